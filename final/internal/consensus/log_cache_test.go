package consensus

import (
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// fromMemory reports whether got shares its data with stored: the cache answered,
// not the disk (which gives a copy).
func fromMemory(got, stored *raft.Log) bool {
	return len(got.Data) > 0 && &got.Data[0] == &stored.Data[0]
}

func TestLogCache(t *testing.T) {
	s, err := NewLogStore(testenv.TempDir(t), storage.Config{Logger: testenv.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	c := &logCache{LogStore: s}

	small := &raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("small")}
	large := &raft.Log{Index: 2, Term: 1, Type: raft.LogCommand, Data: make([]byte, maxCachedEntryBytes+1)}
	require.NoError(t, c.StoreLogs([]*raft.Log{small, large}))

	var got raft.Log
	require.NoError(t, c.GetLog(1, &got))
	require.Equal(t, small.Data, got.Data)
	require.True(t, fromMemory(&got, small), "a small entry comes from the cache")
	require.NoError(t, c.GetLog(2, &got))
	require.Len(t, got.Data, len(large.Data))
	require.False(t, fromMemory(&got, large), "a large entry is not cached")

	// An entry cachedEntries later takes the slot of entry 1: entry 1 comes from disk.
	for i := uint64(3); i <= 1+cachedEntries; i++ {
		require.NoError(t, c.StoreLog(&raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("x")}))
	}
	require.NoError(t, c.GetLog(1, &got))
	require.Equal(t, small.Data, got.Data)
	require.False(t, fromMemory(&got, small), "an entry whose slot was taken")

	// A store that fails caches nothing.
	refused := &raft.Log{Index: 100, Term: 1, Type: raft.LogCommand, Data: []byte("gap")}
	require.Error(t, c.StoreLogs([]*raft.Log{refused}))
	require.ErrorIs(t, c.GetLog(100, &got), raft.ErrLogNotFound)

	// DeleteRange forgets the cache: a removed entry is not found.
	last := &raft.Log{Index: 2 + cachedEntries, Term: 2, Type: raft.LogCommand, Data: []byte("last")}
	require.NoError(t, c.StoreLog(last))
	require.NoError(t, c.DeleteRange(2+cachedEntries, 2+cachedEntries))
	require.ErrorIs(t, c.GetLog(2+cachedEntries, &got), raft.ErrLogNotFound)
}
