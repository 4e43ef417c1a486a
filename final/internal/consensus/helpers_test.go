package consensus_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// config returns a storage configuration with the given segment sizes.
func config(maxStoreBytes, maxIndexBytes, initialOffset uint64) storage.Config {
	var c storage.Config
	c.Segment.MaxStoreBytes = maxStoreBytes
	c.Segment.MaxIndexBytes = maxIndexBytes
	c.Segment.InitialOffset = initialOffset
	return c
}

// crashCopy copies the files in src, as they are now, to a new directory: what a crash
// of the process would leave on disk, since the logs write straight to the files.
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
