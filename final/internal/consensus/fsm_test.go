package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// testSegments are small segments, so that a few records make several.
func testSegments() storage.SegmentConfig {
	return storage.SegmentConfig{MaxIndexBytes: 3 * 12} // three records a segment
}

// openData opens the data log in dir, closed when the test ends.
func openData(t testing.TB, dir string) *storage.Log {
	t.Helper()
	l, err := storage.NewLog(dir, storage.Config{Segment: testSegments(), Logger: testenv.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

// newTestFSM returns an fsm on the data log in dir (a new one if dir is "").
func newTestFSM(t testing.TB, dir string) *fsm {
	t.Helper()
	if dir == "" {
		dir = testenv.TempDir(t)
	}
	return newFSM(openData(t, dir), testenv.TempDir(t), testenv.Logger(t), func() {})
}

// appendEntry returns the Raft entry at index that appends one batch of values.
func appendEntry(t testing.TB, index uint64, producer string, seq uint64, values ...string) *raft.Log {
	t.Helper()
	b := batch{producer: producer, sequence: seq}
	for _, v := range values {
		b.values = append(b.values, []byte(v))
	}
	data, err := encodeAppend(int64(index)*1000, []batch{b})
	require.NoError(t, err)
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

// applyOne applies entry and returns its only batch's result.
func applyOne(t testing.TB, f *fsm, entry *raft.Log) appendResult {
	t.Helper()
	resp := f.Apply(entry)
	results, ok := resp.([]appendResult)
	require.True(t, ok, "Apply(entry %d) answered %#v", entry.Index, resp)
	require.Len(t, results, 1)
	return results[0]
}

// requireRecords checks that the fsm serves values from offset 0, each written by the
// Raft entry entries[i].
func requireRecords(t *testing.T, f *fsm, values []string, entries []uint64) {
	t.Helper()
	require.Equal(t, uint64(len(values)), f.next.Load(), "next offset")
	for i, v := range values {
		r, err := f.data.Read(uint64(i))
		require.NoError(t, err, "Read(%d)", i)
		require.Equal(t, v, string(r.Value), "Read(%d)", i)
		require.Equal(t, entries[i], r.RaftIndex, "Read(%d).RaftIndex", i)
		require.Equal(t, int64(entries[i])*1000, r.TimeUnixNano, "Read(%d).TimeUnixNano", i)
	}
	require.Equal(t, uint64(len(values)), f.data.NextOffset(), "records in the data log")
}

func TestFSMAppliesBatches(t *testing.T) {
	f := newTestFSM(t, "")
	require.Equal(t, appendResult{first: 0, count: 2}, applyOne(t, f, appendEntry(t, 1, "", 0, "a", "b")))
	require.Equal(t, appendResult{first: 2, count: 1}, applyOne(t, f, appendEntry(t, 2, "", 0, "c")))
	requireRecords(t, f, []string{"a", "b", "c"}, []uint64{1, 1, 2})
	require.Equal(t, uint64(2), f.appliedIndex())
}

// A batch that repeats one applied before is not applied again; its result says where
// the first went. Every server does the same, so a retry across a leader change lands
// once.
func TestFSMSkipsDuplicateBatches(t *testing.T) {
	f := newTestFSM(t, "")
	applyOne(t, f, appendEntry(t, 1, "p", 1, "a"))
	applyOne(t, f, appendEntry(t, 2, "p", 2, "b", "c"))
	require.Equal(t, appendResult{first: 1, count: 2, duplicate: true}, applyOne(t, f, appendEntry(t, 3, "p", 2, "b", "c")))
	require.Equal(t, appendResult{first: 3, count: 1}, applyOne(t, f, appendEntry(t, 4, "q", 2, "d")),
		"another producer's sequence numbers are its own")
	requireRecords(t, f, []string{"a", "b", "c", "d"}, []uint64{1, 2, 2, 4})
}

func TestFSMRefusesASequenceTooOld(t *testing.T) {
	f := newTestFSM(t, "")
	for seq := uint64(1); seq <= producerWindow+1; seq++ {
		applyOne(t, f, appendEntry(t, seq, "p", seq, "v"))
	}
	r := applyOne(t, f, appendEntry(t, producerWindow+2, "p", 1, "v"))
	require.ErrorIs(t, r.err, ErrSequenceTooOld)
	require.Equal(t, uint64(producerWindow+1), f.next.Load(), "nothing appended")
}

// Raft applies every entry after the newest snapshot again when a server starts. The
// data log is kept: entries whose records it holds move the position on without
// writing, and an entry whose records were cut short (a power loss) is written again.
func TestFSMAppliesAgainWithoutDuplicating(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"data log intact", func(*testing.T, string) {}},
		{"last entry cut short", func(t *testing.T, dir string) {
			l := openData(t, dir)
			require.NoError(t, l.TruncateFrom(5)) // entry 3 wrote offsets 4 to 6
			require.NoError(t, l.Close())
		}},
		{"last entry lost", func(t *testing.T, dir string) {
			l := openData(t, dir)
			require.NoError(t, l.TruncateFrom(4))
			require.NoError(t, l.Close())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testenv.TempDir(t)
			entries := []*raft.Log{
				appendEntry(t, 1, "", 0, "a", "b"),
				appendEntry(t, 2, "p", 1, "c", "d"),
				appendEntry(t, 3, "", 0, "e", "f", "g"),
			}
			first, err := storage.NewLog(dir, storage.Config{Segment: testSegments()})
			require.NoError(t, err)
			before := newFSM(first, testenv.TempDir(t), testenv.Logger(t), func() {})
			for _, e := range entries {
				applyOne(t, before, e)
			}
			require.NoError(t, first.Close())
			tt.damage(t, dir)

			after := newTestFSM(t, dir)
			for _, e := range entries {
				applyOne(t, after, e)
			}
			require.Equal(t, appendResult{first: 2, count: 2, duplicate: true},
				applyOne(t, after, appendEntry(t, 4, "p", 1, "c", "d")), "the producer table is rebuilt too")
			requireRecords(t, after, []string{"a", "b", "c", "d", "e", "f", "g"}, []uint64{1, 1, 2, 2, 3, 3, 3})
		})
	}
}

// A snapshot through the SnapshotStore links the data log's files; restoring it on a
// server whose data log is empty replaces the data log with them; on the server that
// took it, after a restart, keeps the data log as it is.
func TestFSMSnapshotAndRestore(t *testing.T) {
	dir := testenv.TempDir(t)
	src := newTestFSM(t, dir)
	for i := range 5 {
		applyOne(t, src, appendEntry(t, uint64(i+1), "p", uint64(i+1), fmt.Sprint(i)))
	}
	require.Nil(t, src.Apply(&raft.Log{Index: 6, Term: 1, Type: raft.LogCommand, Data: encodeTruncate(3)}))
	store, err := NewSnapshotStore(testenv.TempDir(t), 2, testenv.Logger(t))
	require.NoError(t, err)

	snap, err := src.Snapshot()
	require.NoError(t, err)
	applyOne(t, src, appendEntry(t, 7, "p", 6, "after")) // after the snapshot, before Persist
	sink, err := store.Create(1, 6, 1, raft.Configuration{}, 1, nil)
	require.NoError(t, err)
	require.NoError(t, snap.Persist(sink))
	snap.Release()

	metas, err := store.List()
	require.NoError(t, err)
	require.Len(t, metas, 1)

	t.Run("on an empty server", func(t *testing.T) {
		dst := newTestFSM(t, "")
		_, rc, err := store.Open(metas[0].ID)
		require.NoError(t, err)
		require.NoError(t, dst.Restore(rc))
		requireRestored(t, dst)
		require.Equal(t, uint64(5), dst.next.Load(), "the record applied after the snapshot is not in it")
	})
	t.Run("from a stream, as a follower receives it", func(t *testing.T) {
		_, rc, err := store.Open(metas[0].ID)
		require.NoError(t, err)
		stream, err := io.ReadAll(rc)
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		require.Len(t, stream, int(metas[0].Size))

		dst := newTestFSM(t, "")
		require.NoError(t, dst.Restore(io.NopCloser(bytes.NewReader(stream))))
		requireRestored(t, dst)
	})
	t.Run("on the same server after a restart", func(t *testing.T) {
		data := openData(t, crashCopyDir(t, dir))
		restarted := newFSM(data, testenv.TempDir(t), testenv.Logger(t), func() {})
		sealed := segmentInode(t, data, 3)
		_, rc, err := store.Open(metas[0].ID)
		require.NoError(t, err)
		require.NoError(t, restarted.Restore(rc))
		requireRestored(t, restarted)
		require.Equal(t, sealed, segmentInode(t, data, 3), "the data log was kept, not replaced")
		require.Equal(t, uint64(6), data.NextOffset(), "with the record applied after the snapshot")
		applyOne(t, restarted, appendEntry(t, 7, "p", 6, "after"))
		require.Equal(t, uint64(6), restarted.next.Load(), "entry 7 is recognised, not appended again")
	})
}

// requireRestored checks the state of TestFSMSnapshotAndRestore's snapshot.
func requireRestored(t *testing.T, f *fsm) {
	t.Helper()
	require.Equal(t, uint64(6), f.appliedIndex())
	require.Equal(t, uint64(3), f.lowest.Load())
	for off := uint64(3); off < 5; off++ {
		r, err := f.data.Read(off)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(off), string(r.Value))
	}
	r, dup, err := f.producers.lookup("p", 2, false)
	require.NoError(t, err)
	require.True(t, dup, "the producer table is in the snapshot")
	require.Equal(t, uint64(1), r.first)
}

// segmentInode identifies the store file of the segment at base.
func segmentInode(t *testing.T, l *storage.Log, base uint64) uint64 {
	t.Helper()
	for _, s := range l.Segments() {
		if s.Base == base {
			info, err := os.Stat(filepath.Join(l.Dir(), s.Name()))
			require.NoError(t, err)
			return inode(info)
		}
	}
	t.Fatalf("no segment at %d", base)
	return 0
}

// inode returns a file's inode number.
func inode(info os.FileInfo) uint64 {
	return info.Sys().(*syscall.Stat_t).Ino
}

// crashCopyDir copies dir's regular files to a new directory, as a crash leaves them.
func crashCopyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := testenv.TempDir(t)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() == "LOCK" || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
	return dst
}

// Retention removes the records below the offset the command names, on every server
// the same way: reads below it fail, and whole segments below it are deleted.
func TestFSMTruncate(t *testing.T) {
	f := newTestFSM(t, "")
	for i := range 7 {
		applyOne(t, f, appendEntry(t, uint64(i+1), "", 0, fmt.Sprint(i)))
	}
	require.Nil(t, f.Apply(&raft.Log{Index: 8, Type: raft.LogCommand, Data: encodeTruncate(4)}))
	require.Equal(t, uint64(4), f.lowest.Load())
	require.Equal(t, uint64(3), f.data.LowestOffset(), "segment 0 holds only records below 4, segment 3 does not")

	require.Nil(t, f.Apply(&raft.Log{Index: 9, Type: raft.LogCommand, Data: encodeTruncate(2)}))
	require.Equal(t, uint64(4), f.lowest.Load(), "retention never moves back")
	require.Nil(t, f.Apply(&raft.Log{Index: 10, Type: raft.LogCommand, Data: encodeTruncate(100)}))
	require.Equal(t, uint64(7), f.lowest.Load(), "nor past the records")
}

// A command that does not decode fails the same way on every server, and the fsm goes
// on; one the data log cannot apply stops the fsm, which refuses snapshots from then
// on.
func TestFSMFailures(t *testing.T) {
	f := newTestFSM(t, "")
	resp := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{commandVersion, 99}})
	require.Error(t, resp.(error))
	resp = f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte{1}})
	require.ErrorIs(t, resp.(error), errBadCommand)
	require.NoError(t, f.err())
	require.Nil(t, f.Apply(&raft.Log{Index: 3, Type: raft.LogConfiguration}), "not a command: nothing to do")
	require.Equal(t, uint64(3), f.appliedIndex())

	require.NoError(t, f.data.Close()) // stands for a disk that fails
	resp = f.Apply(appendEntry(t, 4, "", 0, "x"))
	require.ErrorIs(t, resp.(error), storage.ErrClosed)
	require.ErrorIs(t, f.err(), storage.ErrClosed)
	_, err := f.Snapshot()
	require.ErrorIs(t, err, storage.ErrClosed, "no snapshot of a data log that may have diverged")
}

// Restore refuses a snapshot that is not one, and says so; the fsm stops until a
// Restore succeeds.
func TestFSMRestoreRefusesDamagedSnapshots(t *testing.T) {
	src := newTestFSM(t, "")
	applyOne(t, src, appendEntry(t, 1, "", 0, "a", "b"))
	snap, err := src.Snapshot()
	require.NoError(t, err)
	var sink bufferSink
	require.NoError(t, snap.Persist(&sink))
	snap.Release()
	good := sink.Bytes()

	tests := map[string][]byte{
		"empty":              nil,
		"wrong magic":        append([]byte("golog-xx"), good[8:]...),
		"manifest damaged":   flipped(good, snapshotHeaderSize+3),
		"cut in a segment":   good[:len(good)-1],
		"cut in the header":  good[:5],
		"manifest too large": append(append([]byte(nil), good[:9]...), 0xff, 0xff, 0xff, 0xff),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			f := newTestFSM(t, "")
			err := f.Restore(io.NopCloser(bytes.NewReader(data)))
			require.Error(t, err)
			require.Error(t, f.err(), "the fsm is stopped")
		})
	}
}

// flipped returns a copy of b with one bit of byte i flipped.
func flipped(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

// bufferSink is a raft.SnapshotSink that keeps the stream in memory.
type bufferSink struct {
	bytes.Buffer
	failWrite         bool
	closed, cancelled bool
}

func (s *bufferSink) Write(p []byte) (int, error) {
	if s.failWrite {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}
func (s *bufferSink) Close() error  { s.closed = true; return nil }
func (s *bufferSink) Cancel() error { s.cancelled = true; return nil }
func (s *bufferSink) ID() string    { return "test" }

func TestFSMPersistCancelsOnError(t *testing.T) {
	f := newTestFSM(t, "")
	applyOne(t, f, appendEntry(t, 1, "", 0, "a"))
	snap, err := f.Snapshot()
	require.NoError(t, err)
	defer snap.Release()
	sink := &bufferSink{failWrite: true}
	require.Error(t, snap.Persist(sink))
	require.True(t, sink.cancelled)
	require.False(t, sink.closed)
}

// While Restore replaces the data log it says so, and stops saying so when it is done.
func TestFSMRestoringWhileRestoring(t *testing.T) {
	src := newTestFSM(t, "")
	applyOne(t, src, appendEntry(t, 1, "", 0, "a"))
	snap, err := src.Snapshot()
	require.NoError(t, err)
	var sink bufferSink
	require.NoError(t, snap.Persist(&sink))
	snap.Release()
	data := sink.Bytes()

	f := newTestFSM(t, "")
	r, w := io.Pipe()
	restored := make(chan error, 1)
	go func() { restored <- f.Restore(r) }()
	_, err = w.Write(data[:1]) // returns once Restore reads it
	require.NoError(t, err)
	require.True(t, f.restoring.Load(), "restoring while Restore runs")
	_, err = w.Write(data[1:])
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, <-restored)
	require.False(t, f.restoring.Load(), "restoring after Restore returned")
}

// An ordered batch that does not follow its producer's previous one is refused, and
// appends nothing: a pipelined producer's record cannot overtake an earlier one that
// failed.
func TestFSMRefusesAGapInAnOrderedBatch(t *testing.T) {
	f := newTestFSM(t, "")
	ordered := func(index, seq uint64, value string) *raft.Log {
		data, err := encodeAppend(int64(index)*1000, []batch{{producer: "p", ordered: true, sequence: seq,
			values: [][]byte{[]byte(value)}}})
		require.NoError(t, err)
		return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
	}
	require.NoError(t, applyOne(t, f, ordered(1, 1, "a")).err)
	r := applyOne(t, f, ordered(2, 3, "c")) // 2 failed before it reached the log
	require.ErrorIs(t, r.err, ErrSequenceGap)
	require.NoError(t, applyOne(t, f, ordered(3, 2, "b")).err)
	require.NoError(t, applyOne(t, f, ordered(4, 3, "c")).err)
	requireRecords(t, f, []string{"a", "b", "c"}, []uint64{1, 3, 4})
}
