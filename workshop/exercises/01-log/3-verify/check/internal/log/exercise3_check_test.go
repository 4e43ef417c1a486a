package log_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/log"
)

// verifier is the method the exercise adds.
type verifier interface{ Verify() error }

func TestExercise3_Verify(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, log.Config{})
	v, ok := any(l).(verifier)
	require.True(t, ok, "*log.Log has no method Verify() error yet")

	appendRecords(t, l, 0, 3)
	require.NoError(t, v.Verify(), "an intact log")

	// Every record-NNN value is 10 bytes: flip a byte of the second record's value.
	store := segmentFile(dir, 0, ".store")
	b, err := os.ReadFile(store)
	require.NoError(t, err)
	frame := len(b) / 3
	b[frame+frame/2] ^= 0xff
	require.NoError(t, os.WriteFile(store, b, 0o644))

	err = v.Verify()
	require.ErrorIs(t, err, log.ErrCorrupt, "a damaged record")
	require.ErrorContains(t, err, "offset 1", "the error names the offset")
	after, err := os.ReadFile(store)
	require.NoError(t, err)
	require.Equal(t, b, after, "Verify changes nothing on disk")
}
