package consensus

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
)

// FuzzRestore restores an fsm from arbitrary bytes, seeded with a real snapshot and
// damaged ones. Restore must not panic: it fails (and the fsm then refuses to apply or
// snapshot until a Restore succeeds), or it succeeds and the data log reads back every
// record it says it holds.
func FuzzRestore(f *testing.F) {
	f.Add(fuzzSnapshot(f, "a", "b"))
	f.Add(fuzzSnapshot(f))
	good := fuzzSnapshot(f, "x", "y", "z")
	f.Add(good[:len(good)-1])
	f.Add(flipped(good, snapshotHeaderSize+3))
	f.Add([]byte("golog-xx"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := newTestFSM(t, "")
		if err := fs.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			require.Error(t, fs.err(), "a failed restore leaves the fsm stopped")
			return
		}
		require.NoError(t, fs.err())
		for off := fs.data.LowestOffset(); off < fs.data.NextOffset(); off++ {
			r, err := fs.data.Read(off)
			if err != nil {
				require.True(t, errors.Is(err, storage.ErrCorrupt), "read %d: %v", off, err)
				continue
			}
			require.Equal(t, off, r.Offset)
		}
	})
}

// fuzzSnapshot returns the snapshot stream of an fsm that applied values.
func fuzzSnapshot(tb testing.TB, values ...string) []byte {
	src := newTestFSM(tb, "")
	if len(values) > 0 {
		applyOne(tb, src, appendEntry(tb, 1, "", 0, values...))
	}
	snap, err := src.Snapshot()
	require.NoError(tb, err)
	defer snap.Release()
	var sink bufferSink
	require.NoError(tb, snap.Persist(&sink))
	return sink.Bytes()
}
