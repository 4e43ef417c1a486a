package replication_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// peerNames is the method the exercise adds.
type peerNames interface{ Peers() []string }

func TestExercise1_Peers(t *testing.T) {
	r := newReplicator(t, newLog(t))
	p, ok := any(r).(peerNames)
	require.True(t, ok, "*replication.Replicator has no method Peers() []string yet")
	require.Empty(t, p.Peers())

	_, addrB, _ := startPeer(t)
	_, addrA, _ := startPeer(t)
	require.NoError(t, r.Join("b", addrB))
	require.NoError(t, r.Join("a", addrA))
	require.Equal(t, []string{"a", "b"}, p.Peers())
	require.NoError(t, r.Leave("a"))
	require.Equal(t, []string{"b"}, p.Peers())
	require.NoError(t, r.Close())
	require.Empty(t, p.Peers(), "after Close")
}
