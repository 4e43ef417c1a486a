package consensus

// The fsm is not exported, so these tests are in package consensus. They share the test
// binary, and its TestMain, with the package's external tests.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/log"
	"golog/internal/testenv"
)

// newTestFSM returns an fsm on a new data log, closed when the test ends.
func newTestFSM(t *testing.T) *fsm {
	t.Helper()
	var c log.Config
	c.Segment.MaxIndexBytes = 3 * 12 // a few records per segment
	c.Logger = testenv.Logger(t)
	l, err := log.NewLog(testenv.TempDir(t), c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return &fsm{log: l}
}

// appendEntry returns the Raft entry at index that appends value.
func appendEntry(t *testing.T, index uint64, value string) *raft.Log {
	t.Helper()
	cmd, err := encodeAppend(&log.Record{Value: []byte(value), Offset: 999})
	require.NoError(t, err)
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: cmd}
}

// applyValues applies one append command per value and checks the offsets.
func applyValues(t *testing.T, f *fsm, values ...string) {
	t.Helper()
	for _, v := range values {
		want := f.log.NextOffset()
		require.Equal(t, want, f.Apply(appendEntry(t, want+1, v)), "Apply(append %q)", v)
	}
}

// requireValues checks that the fsm's data log holds exactly values, from offset 0.
func requireValues(t *testing.T, f *fsm, values ...string) {
	t.Helper()
	require.Equal(t, uint64(0), f.log.LowestOffset())
	require.Equal(t, uint64(len(values)), f.log.NextOffset(), "records in the data log")
	for i, v := range values {
		r, err := f.log.Read(uint64(i))
		require.NoError(t, err)
		require.Equal(t, v, string(r.Value), "record %d", i)
		require.Equal(t, uint64(i), r.Offset)
	}
}

// bufferSink is a raft.SnapshotSink that keeps the snapshot in memory and remembers
// how it ended. failWrite makes every Write fail.
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

// persist takes the snapshot's bytes, checking that Persist closed the sink.
func persist(t *testing.T, snap raft.FSMSnapshot) []byte {
	t.Helper()
	var sink bufferSink
	require.NoError(t, snap.Persist(&sink))
	snap.Release()
	require.True(t, sink.closed)
	require.False(t, sink.cancelled)
	return sink.Bytes()
}

func TestFSMApply(t *testing.T) {
	f := newTestFSM(t)
	applyValues(t, f, "a", "b", "c", "d")
	requireValues(t, f, "a", "b", "c", "d")
}

func TestFSMApplyRefusesWhatIsNotACommand(t *testing.T) {
	good := appendEntry(t, 1, "x").Data
	tests := []struct {
		name  string
		entry *raft.Log
	}{
		{"no data", &raft.Log{Index: 1, Type: raft.LogCommand}},
		{"unknown command type", &raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{42, 1, 2}}},
		{"not a command entry", &raft.Log{Index: 1, Type: raft.LogNoop, Data: good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t)
			resp := f.Apply(tt.entry)
			require.Error(t, resp.(error))
			requireValues(t, f)
			// Every server refuses it the same way, so the fsm goes on.
			require.NoError(t, f.err())
			applyValues(t, f, "next")
		})
	}
}

func TestFSMStopsWhenTheDataLogFails(t *testing.T) {
	f := newTestFSM(t)
	applyValues(t, f, "a")
	require.NoError(t, f.log.Close()) // stands for a disk that fails

	resp := f.Apply(appendEntry(t, 2, "b"))
	require.ErrorIs(t, resp.(error), log.ErrClosed)
	require.ErrorIs(t, f.err(), log.ErrClosed, "the fsm is stopped")
	_, err := f.Snapshot()
	require.ErrorIs(t, err, log.ErrClosed, "no snapshot of a data log that may have diverged")
}

// A snapshot is the data log at the moment of Snapshot, even though raft persists it
// while Apply goes on: a snapshot that read on to the end of the log would hold records
// applied after it, and a server restored from it would then get them twice.
func TestFSMSnapshotIsPointInTime(t *testing.T) {
	f := newTestFSM(t)
	applyValues(t, f, "a", "b", "c", "d")

	snap, err := f.Snapshot()
	require.NoError(t, err)
	applyValues(t, f, "e", "f") // after the snapshot, before Persist
	data := persist(t, snap)

	restored := newTestFSM(t)
	require.NoError(t, restored.Restore(io.NopCloser(bytes.NewReader(data))))
	requireValues(t, restored, "a", "b", "c", "d")
}

func TestFSMRestoreDiscardsPreviousState(t *testing.T) {
	tests := []struct {
		name   string
		values []string
	}{
		{"two records", []string{"x", "y"}},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			source := newTestFSM(t)
			applyValues(t, source, tt.values...)
			snap, err := source.Snapshot()
			require.NoError(t, err)
			data := persist(t, snap)

			f := newTestFSM(t)
			applyValues(t, f, "old-1", "old-2", "old-3", "old-4", "old-5")
			require.NoError(t, f.Restore(io.NopCloser(bytes.NewReader(data))))

			requireValues(t, f, tt.values...)
			applyValues(t, f, "after") // appends go on after the restored records
		})
	}
}

// The fsm knows the Raft index of the last command it applied, through a snapshot and
// its restore too: a restarted server uses it to tell when it has caught up.
func TestFSMAppliedIndex(t *testing.T) {
	f := newTestFSM(t)
	require.Equal(t, uint64(0), f.appliedIndex())
	applyValues(t, f, "a", "b") // at Raft indexes 1 and 2
	require.Equal(t, uint64(2), f.appliedIndex())
	f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: []byte{42}})
	require.Equal(t, uint64(7), f.appliedIndex(), "a command refused counts as applied")

	snap, err := f.Snapshot()
	require.NoError(t, err)
	applyValues(t, f, "c") // after the snapshot
	restored := newTestFSM(t)
	require.NoError(t, restored.Restore(io.NopCloser(bytes.NewReader(persist(t, snap)))))
	require.Equal(t, uint64(7), restored.appliedIndex(), "the index at the snapshot")
}

// While Restore replaces the data log it says so, and stops saying so when it is done,
// whether it succeeds or fails.
func TestFSMRestoringWhileRestoring(t *testing.T) {
	source := newTestFSM(t)
	applyValues(t, source, "a")
	snap, err := source.Snapshot()
	require.NoError(t, err)
	data := persist(t, snap)

	for _, tt := range []struct {
		name    string
		rest    []byte // what follows the first byte
		wantErr bool
	}{
		{"complete snapshot", data[1:], false},
		{"cut-off snapshot", data[1 : len(data)-1], true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t)
			r, w := io.Pipe()
			restored := make(chan error, 1)
			go func() { restored <- f.Restore(r) }()
			_, err := w.Write(data[:1]) // returns once Restore reads it
			require.NoError(t, err)
			require.True(t, f.restoring.Load(), "restoring while Restore runs")
			_, err = w.Write(tt.rest)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			require.Equal(t, tt.wantErr, <-restored != nil)
			require.False(t, f.restoring.Load(), "restoring after Restore returned")
		})
	}
}

func TestFSMRestoreRefusesDamagedSnapshots(t *testing.T) {
	source := newTestFSM(t)
	applyValues(t, source, "a", "b", "c")
	snap, err := source.Snapshot()
	require.NoError(t, err)
	good := persist(t, snap)

	damage := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not a snapshot", []byte("hello, this is not a golog snapshot")},
		{"other version", damage(func(b []byte) []byte { b[8]++; return b })},
		{"records missing at the end", good[:len(good)-1]},
		{"a record fewer than the header says", damage(func(b []byte) []byte { b[24]++; return b })},
		{"a flipped byte in a record", damage(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t)
			err := f.Restore(io.NopCloser(bytes.NewReader(tt.data)))
			require.Error(t, err)
			// A half-restored data log is not served.
			require.Error(t, f.err())
			require.Error(t, f.Apply(appendEntry(t, 1, "z")).(error))

			// A good snapshot puts it right.
			require.NoError(t, f.Restore(io.NopCloser(bytes.NewReader(good))))
			require.NoError(t, f.err())
			requireValues(t, f, "a", "b", "c")
		})
	}
}

func TestFSMPersistCancelsOnError(t *testing.T) {
	t.Run("sink fails", func(t *testing.T) {
		f := newTestFSM(t)
		applyValues(t, f, "a")
		snap, err := f.Snapshot()
		require.NoError(t, err)
		sink := &bufferSink{failWrite: true}
		require.Error(t, snap.Persist(sink))
		require.True(t, sink.cancelled)
		require.False(t, sink.closed)
	})
	t.Run("data log reset under it", func(t *testing.T) {
		f := newTestFSM(t)
		applyValues(t, f, "a", "b", "c", "d") // two segments
		snap, err := f.Snapshot()
		require.NoError(t, err)
		require.NoError(t, f.log.Reset())
		sink := &bufferSink{}
		require.ErrorIs(t, snap.Persist(sink), log.ErrClosed)
		require.True(t, sink.cancelled)
	})
}

// The snapshot store raft uses on disk takes the fsm's snapshots as they are.
func TestFSMSnapshotThroughFileSnapshotStore(t *testing.T) {
	f := newTestFSM(t)
	values := make([]string, 20)
	for i := range values {
		values[i] = fmt.Sprintf("record-%d", i)
	}
	applyValues(t, f, values...)
	store, err := raft.NewFileSnapshotStoreWithLogger(testenv.TempDir(t), 2, newHCLogger(testenv.Logger(t)))
	require.NoError(t, err)
	_, transport := raft.NewInmemTransport("")
	sink, err := store.Create(raft.SnapshotVersionMax, 20, 1, raft.Configuration{}, 1, transport)
	require.NoError(t, err)
	snap, err := f.Snapshot()
	require.NoError(t, err)
	require.NoError(t, snap.Persist(sink))

	_, rc, err := store.Open(sink.ID())
	require.NoError(t, err)
	restored := newTestFSM(t)
	require.NoError(t, restored.Restore(rc))
	requireValues(t, restored, values...)
}
