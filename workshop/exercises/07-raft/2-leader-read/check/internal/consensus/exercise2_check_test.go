package consensus_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/log"
)

// leaderReader is the method the exercise adds.
type leaderReader interface {
	ReadLeader(off uint64) (*log.Record, error)
}

func TestExercise2_ReadLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.appendValues(values(1), 0, 1)
	leader := c.leader()
	lr, ok := any(leader.dlog).(leaderReader)
	require.True(t, ok, "*consensus.DistributedLog has no method ReadLeader(uint64) (*log.Record, error) yet")

	r, err := lr.ReadLeader(0)
	require.NoError(t, err, "on the leader")
	require.Equal(t, "record-0", string(r.Value))

	follower := c.follower()
	_, err = any(follower.dlog).(leaderReader).ReadLeader(0)
	_, isNotLeader := errors.AsType[consensus.ErrNotLeader](err)
	require.True(t, isNotLeader, "on a follower: ErrNotLeader, got %v", err)

	c.partition.Cut(leader.addr)
	_, err = lr.ReadLeader(0)
	require.Error(t, err, "a leader cut off from the majority cannot confirm it leads")
}
