package consensus_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// crashCopy copies the regular files in src but LOCK, as they are now, to a new
// directory: what a crash of the process would leave on disk, since the log store writes
// straight to its files.
func crashCopy(t *testing.T, src string) string {
	t.Helper()
	dst := testenv.TempDir(t)
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() == "LOCK" || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
	return dst
}
