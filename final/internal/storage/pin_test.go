package storage_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// pinnedPaths returns where each file a Pin holds is, once linked into dir.
func pinnedPaths(dir string, files []storage.SegmentFile) []string {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f.Name())
	}
	return paths
}

// A Pin is what a snapshot is made of: the log's segment files, linked elsewhere,
// give back the records as they were when the Pin was taken, whatever the log did in
// between.
func TestPinLinksTheSegmentsAsTheyWere(t *testing.T) {
	c := config(0, 3*12, 0)
	src := openLog(t, testenv.TempDir(t), c)
	appendRecords(t, src, 0, 7) // segments 0, 3 and 6 (active, one record)

	pin, err := src.Pin()
	require.NoError(t, err)
	files := pin.Files()
	require.Equal(t, []storage.SegmentFile{
		{Base: 0, Next: 3, Size: files[0].Size},
		{Base: 3, Next: 6, Size: files[1].Size},
		{Base: 6, Next: 7, Size: files[2].Size},
	}, files)

	appendRecords(t, src, 7, 8)         // the active segment grows after the Pin
	require.NoError(t, src.Truncate(6)) // and the old segments are removed
	snap := testenv.TempDir(t)
	require.NoError(t, pin.Link(snap))
	require.NoError(t, pin.Release())

	dst := openLog(t, testenv.TempDir(t), c)
	require.NoError(t, dst.ReplaceWith(files, pinnedPaths(snap, files)))
	require.Equal(t, uint64(0), dst.LowestOffset())
	require.Equal(t, uint64(7), dst.NextOffset(), "the record appended after the Pin is not in it")
	requireRecords(t, dst, 0, 0, 7)
	appendRecords(t, dst, 7, 9)
	requireRecords(t, dst, 0, 0, 9)
}

// A segment removed while pinned keeps its store file, under a name the log does not
// open, until the Pin is released; a crash in between leaves the file, and the next
// open deletes it.
func TestPinnedSegmentsAreRemovedOnRelease(t *testing.T) {
	dir := testenv.TempDir(t)
	c := config(0, 3*12, 0)
	l := openLog(t, dir, c)
	appendRecords(t, l, 0, 7)
	pin, err := l.Pin()
	require.NoError(t, err)

	require.NoError(t, l.Truncate(6))
	require.Equal(t, []string{"00000000000000000006.store"}, storeFiles(t, dir))
	retired, err := filepath.Glob(filepath.Join(dir, "*.retired"))
	require.NoError(t, err)
	require.Len(t, retired, 2, "the pinned stores of segments 0 and 3")
	crashed := crashCopy(t, dir)

	require.NoError(t, pin.Release())
	require.NoError(t, pin.Release(), "Release is idempotent")
	retired, err = filepath.Glob(filepath.Join(dir, "*.retired"))
	require.NoError(t, err)
	require.Empty(t, retired)

	reopened := openLog(t, crashed, c)
	requireRecords(t, reopened, 0, 6, 7)
	retired, err = filepath.Glob(filepath.Join(crashed, "*.retired"))
	require.NoError(t, err)
	require.Empty(t, retired, "NewLog deletes what a crash left retired")
}

// Reset while pinned keeps the pinned files too.
func TestPinSurvivesReset(t *testing.T) {
	c := config(0, 3*12, 0)
	src := openLog(t, testenv.TempDir(t), c)
	appendRecords(t, src, 0, 5)
	pin, err := src.Pin()
	require.NoError(t, err)
	files := pin.Files()

	require.NoError(t, src.Reset())
	snap := testenv.TempDir(t)
	require.NoError(t, pin.Link(snap))
	require.NoError(t, pin.Release())

	dst := openLog(t, testenv.TempDir(t), c)
	require.NoError(t, dst.ReplaceWith(files, pinnedPaths(snap, files)))
	requireRecords(t, dst, 0, 0, 5)
}

// TruncateFrom never cuts into what a Pin holds: a snapshot's bytes never change.
func TestTruncateFromRefusesToCutAPin(t *testing.T) {
	c := config(0, 3*12, 0)
	l := openLog(t, testenv.TempDir(t), c)
	appendRecords(t, l, 0, 5) // offsets 3 and 4 in the active segment
	pin, err := l.Pin()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pin.Release()) })
	appendRecords(t, l, 5, 6)

	require.NoError(t, l.TruncateFrom(5), "after the pinned records")
	require.Error(t, l.TruncateFrom(4))
}

// ReplaceWith refuses files that do not follow each other, and files shorter than
// their Size, and leaves the log closed: what is on disk is then unknown.
func TestReplaceWithRefusesInconsistentFiles(t *testing.T) {
	c := config(0, 3*12, 0)
	src := openLog(t, testenv.TempDir(t), c)
	appendRecords(t, src, 0, 7)
	pin, err := src.Pin()
	require.NoError(t, err)
	files := pin.Files()
	snap := testenv.TempDir(t)
	require.NoError(t, pin.Link(snap))
	require.NoError(t, pin.Release())

	tests := []struct {
		name  string
		files []storage.SegmentFile
		paths []string
		wrong func(t *testing.T)
	}{
		{"a gap", []storage.SegmentFile{files[0], files[2]}, []string{pinnedPaths(snap, files)[0], pinnedPaths(snap, files)[2]}, nil},
		{"a file too short", files, pinnedPaths(snap, files), func(t *testing.T) {
			require.NoError(t, os.Truncate(pinnedPaths(snap, files)[1], int64(files[1].Size-1)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wrong != nil {
				tt.wrong(t)
			}
			dst := openLog(t, testenv.TempDir(t), c)
			require.ErrorIs(t, dst.ReplaceWith(tt.files, tt.paths), storage.ErrCorrupt)
			_, err := dst.Read(0)
			require.ErrorIs(t, err, storage.ErrClosed)
		})
	}
}
