package consensus_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/testenv"
)

// openStableStore opens the stable store at path, closed when the test ends.
func openStableStore(t *testing.T, path string) *consensus.StableStore {
	t.Helper()
	s, err := consensus.NewStableStore(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestStableStoreMissingKey(t *testing.T) {
	s := openStableStore(t, filepath.Join(testenv.TempDir(t), "stable.db"))

	val, err := s.Get([]byte("CurrentTerm"))
	// raft tells "nothing stored yet" from a failure by this exact text.
	require.EqualError(t, err, "not found")
	require.ErrorIs(t, err, consensus.ErrKeyNotFound)
	require.Nil(t, val)

	n, err := s.GetUint64([]byte("CurrentTerm"))
	require.EqualError(t, err, "not found")
	require.Equal(t, uint64(0), n)
}

func TestStableStoreSetGet(t *testing.T) {
	s := openStableStore(t, filepath.Join(testenv.TempDir(t), "stable.db"))

	require.NoError(t, s.Set([]byte("LastVoteCand"), []byte("127.0.0.1:8400")))
	val, err := s.Get([]byte("LastVoteCand"))
	require.NoError(t, err)
	require.Equal(t, []byte("127.0.0.1:8400"), val)

	require.NoError(t, s.Set([]byte("LastVoteCand"), []byte{}))
	val, err = s.Get([]byte("LastVoteCand"))
	require.NoError(t, err, "an empty value is a value, not a missing key")
	require.Equal(t, []byte{}, val)

	require.NoError(t, s.SetUint64([]byte("CurrentTerm"), 7))
	n, err := s.GetUint64([]byte("CurrentTerm"))
	require.NoError(t, err)
	require.Equal(t, uint64(7), n)

	_, err = s.GetUint64([]byte("LastVoteCand"))
	require.ErrorContains(t, err, "want 8 for a uint64")
}

func TestStableStoreGetReturnsCopy(t *testing.T) {
	s := openStableStore(t, filepath.Join(testenv.TempDir(t), "stable.db"))
	in := []byte("value")
	require.NoError(t, s.Set([]byte("k"), in))
	in[0] = 'X' // the store kept its own copy

	got, err := s.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("value"), got)
	got[0] = 'Y' // and hands out copies
	again, err := s.Get([]byte("k"))
	require.NoError(t, err)
	require.Equal(t, []byte("value"), again)
}

func TestStableStorePersists(t *testing.T) {
	path := filepath.Join(testenv.TempDir(t), "stable.db")
	s, err := consensus.NewStableStore(path)
	require.NoError(t, err)
	require.NoError(t, s.SetUint64([]byte("CurrentTerm"), 42))
	require.NoError(t, s.Set([]byte("LastVoteCand"), []byte("node-1")))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	s = openStableStore(t, path)
	n, err := s.GetUint64([]byte("CurrentTerm"))
	require.NoError(t, err)
	require.Equal(t, uint64(42), n)
	val, err := s.Get([]byte("LastVoteCand"))
	require.NoError(t, err)
	require.Equal(t, []byte("node-1"), val)
}

func TestStableStoreInUse(t *testing.T) {
	path := filepath.Join(testenv.TempDir(t), "stable.db")
	openStableStore(t, path)
	_, err := consensus.NewStableStore(path)
	require.Error(t, err, "a second open of the same file must fail, not hang")
}
