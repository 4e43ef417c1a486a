package consensus_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// leaderReporter is the method the exercise adds.
type leaderReporter interface{ IsLeader() bool }

func TestExercise1_IsLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader()
	for _, nd := range c.nodes {
		r, ok := any(nd.dlog).(leaderReporter)
		require.True(t, ok, "*consensus.DistributedLog has no method IsLeader() bool yet")
		require.Equal(t, nd == leader, r.IsLeader(), "IsLeader of %s (the leader is %s)", nd.id, leader.id)
	}
}
