package bench_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golog/internal/bench"
	"golog/internal/testenv"
)

// TestProbe runs a small probe and checks that it measured what it says, and left no
// file behind. (It asserts no speed: that is for the probe's reader.)
func TestProbe(t *testing.T) {
	dir := testenv.TempDir(t)
	r, err := bench.Probe(t.Context(), bench.ProbeSettings{
		Dir: dir, Syncs: 20, RecordSize: 100, WriteBytes: 4 << 20, RoundTrips: 100, StreamBytes: 8 << 20,
	})
	require.NoError(t, err)
	for name, l := range map[string]bench.Latency{"fdatasync": r.Fdatasync, "fsync": r.Fsync} {
		assert.Equal(t, 20, l.Samples, name)
		assert.Positive(t, l.P50, name)
		assert.LessOrEqual(t, l.P50, l.Max, name)
	}
	assert.Equal(t, 100, r.RoundTrip.Samples)
	assert.Positive(t, r.WriteMBPerSecond)
	assert.Positive(t, r.LoopbackMBPerSecond)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "files the probe left")

	_, err = bench.Probe(t.Context(), bench.ProbeSettings{})
	assert.ErrorContains(t, err, "no directory")
}
