package discovery_test

import (
	"testing"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// peerLister is the method the exercise adds.
type peerLister interface{ Peers() []string }

func TestExercise1_Peers(t *testing.T) {
	nodes := startCluster(t, nil)
	a, ok := any(nodes["a"].Membership).(peerLister)
	require.True(t, ok, "*discovery.Membership has no method Peers() []string yet")
	require.Equal(t, []string{"b", "c"}, a.Peers())

	require.NoError(t, nodes["b"].Leave())
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.Equal(c, serf.StatusLeft, statuses(nodes["a"])["b"])
	}, testenv.WaitFor, testenv.Tick, "a never saw b leave")
	require.Equal(t, []string{"c"}, a.Peers(), "b left: it is no peer any more")
}
