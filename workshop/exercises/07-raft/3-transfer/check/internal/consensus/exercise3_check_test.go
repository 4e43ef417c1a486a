package consensus_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/testenv"
)

// transferrer is the method the exercise adds.
type transferrer interface{ TransferLeadership() error }

func TestExercise3_TransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.leader()
	tr, ok := any(old.dlog).(transferrer)
	require.True(t, ok, "*consensus.DistributedLog has no method TransferLeadership() error yet")

	err := any(c.follower().dlog).(transferrer).TransferLeadership()
	_, isNotLeader := errors.AsType[consensus.ErrNotLeader](err)
	require.True(t, isNotLeader, "on a follower: ErrNotLeader, got %v", err)

	require.NoError(t, tr.TransferLeadership())
	testenv.Eventually(t, func() bool {
		for _, nd := range c.nodes {
			if nd != old && leads(nd) {
				return true
			}
		}
		return false
	}, "no other server took over")
	require.False(t, leads(old), "the old leader still leads")
	c.appendValues(values(1), 0, 1) // the new leader takes writes
}
