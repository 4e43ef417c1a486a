package consensus

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// takeSnapshot has f's state persisted into store as the snapshot of Raft index index,
// and returns its metadata.
func takeSnapshot(t *testing.T, f *fsm, store *SnapshotStore, index uint64) *raft.SnapshotMeta {
	t.Helper()
	snap, err := f.Snapshot()
	require.NoError(t, err)
	defer snap.Release()
	sink, err := store.Create(1, index, 1, raft.Configuration{}, 1, nil)
	require.NoError(t, err)
	require.NoError(t, snap.Persist(sink))
	meta, _, err := store.Open(sink.ID())
	require.NoError(t, err)
	return meta
}

// A snapshot sent to a follower is the stream Open reads; the follower's sink unpacks
// it into files as it comes, and what its store then opens is the same stream.
func TestSnapshotStoreStreamRoundTrip(t *testing.T) {
	f := newTestFSM(t, "")
	applyOne(t, f, appendEntry(t, 1, "p", 1, "a", "b", "c", "d"))
	leader, err := NewSnapshotStore(testenv.TempDir(t), 2, testenv.Logger(t))
	require.NoError(t, err)
	meta := takeSnapshot(t, f, leader, 1)
	_, rc, err := leader.Open(meta.ID)
	require.NoError(t, err)
	sent, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())

	follower, err := NewSnapshotStore(testenv.TempDir(t), 2, testenv.Logger(t))
	require.NoError(t, err)
	sink, err := follower.Create(1, meta.Index, meta.Term, meta.Configuration, meta.ConfigurationIndex, nil)
	require.NoError(t, err)
	// In small writes, as the network delivers it.
	for p := sent; len(p) > 0; p = p[min(len(p), 7):] {
		_, err := sink.Write(p[:min(len(p), 7)])
		require.NoError(t, err)
	}
	require.NoError(t, sink.Close())

	got, rc, err := follower.Open(sink.ID())
	require.NoError(t, err)
	received, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, sent, received)
	require.Equal(t, meta.Size, got.Size)
	require.Equal(t, meta.Index, got.Index)
}

// A stream that stops early, carries garbage, or goes on after its last segment makes
// Close fail, and leaves nothing behind.
func TestSnapshotSinkRefusesABadStream(t *testing.T) {
	f := newTestFSM(t, "")
	applyOne(t, f, appendEntry(t, 1, "", 0, "a", "b"))
	src, err := NewSnapshotStore(testenv.TempDir(t), 2, testenv.Logger(t))
	require.NoError(t, err)
	meta := takeSnapshot(t, f, src, 1)
	_, rc, err := src.Open(meta.ID)
	require.NoError(t, err)
	good, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())

	for name, stream := range map[string][]byte{
		"cut short":       good[:len(good)-3],
		"garbage":         bytes.Repeat([]byte{0x42}, 100),
		"a byte too many": append(append([]byte(nil), good...), 0),
	} {
		t.Run(name, func(t *testing.T) {
			dir := testenv.TempDir(t)
			store, err := NewSnapshotStore(dir, 2, testenv.Logger(t))
			require.NoError(t, err)
			sink, err := store.Create(1, 1, 1, raft.Configuration{}, 1, nil)
			require.NoError(t, err)
			_, _ = sink.Write(stream) // may fail already; Close must
			require.Error(t, sink.Close())
			metas, err := store.List()
			require.NoError(t, err)
			require.Empty(t, metas)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "nothing left behind")
		})
	}
}

// The store keeps the newest snapshots, newest first, and deletes what a crash left
// half-written when it opens.
func TestSnapshotStoreRetainsAndCleansUp(t *testing.T) {
	dir := testenv.TempDir(t)
	f := newTestFSM(t, "")
	store, err := NewSnapshotStore(dir, 2, testenv.Logger(t))
	require.NoError(t, err)
	for i := uint64(1); i <= 3; i++ {
		applyOne(t, f, appendEntry(t, i, "", 0, fmt.Sprint(i)))
		takeSnapshot(t, f, store, i)
	}
	metas, err := store.List()
	require.NoError(t, err)
	require.Len(t, metas, 2)
	require.Equal(t, []uint64{3, 2}, []uint64{metas[0].Index, metas[1].Index})

	_, err = store.Create(1, 4, 1, raft.Configuration{}, 1, nil) // and the process dies
	require.NoError(t, err)
	_, err = NewSnapshotStore(dir, 2, testenv.Logger(t))
	require.NoError(t, err)
	tmp, err := filepath.Glob(filepath.Join(dir, "*"+snapshotTmpSuffix))
	require.NoError(t, err)
	require.Empty(t, tmp)
}

// Open refuses a snapshot whose files no longer match its metadata.
func TestSnapshotStoreOpenChecksTheFiles(t *testing.T) {
	f := newTestFSM(t, "")
	applyOne(t, f, appendEntry(t, 1, "", 0, "a", "b", "c", "d"))
	dir := testenv.TempDir(t)
	store, err := NewSnapshotStore(dir, 2, testenv.Logger(t))
	require.NoError(t, err)
	meta := takeSnapshot(t, f, store, 1)

	require.NoError(t, os.Remove(filepath.Join(dir, meta.ID, "00000000000000000000.store")))
	_, _, err = store.Open(meta.ID)
	require.Error(t, err)

	manifest := filepath.Join(dir, meta.ID, snapshotManifestFile)
	b, err := os.ReadFile(manifest)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(manifest, flipped(b, 3), 0o644))
	_, _, err = store.Open(meta.ID)
	require.ErrorIs(t, err, errBadSnapshot)
}
