package consensus_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// nextLeading returns the next value on changes, failing the test after testenv.WaitFor.
func nextLeading(t *testing.T, changes <-chan bool) bool {
	t.Helper()
	select {
	case leading := <-changes:
		return leading
	case <-time.After(testenv.WaitFor):
		t.Fatalf("no leadership change after %s", testenv.WaitFor)
		return false
	}
}

// The leader hears true at once, a follower false; when the leader stops, the server
// that takes over hears true.
func TestLeadershipChanges(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader()
	channels := map[string]<-chan bool{}
	for _, nd := range c.nodes {
		changes, stop := nd.dlog.LeadershipChanges()
		t.Cleanup(stop)
		channels[nd.id] = changes
		require.Equal(t, nd == leader, nextLeading(t, changes), "first value of %s", nd.id)
	}

	c.stop(leader)
	next := c.leader()
	require.True(t, nextLeading(t, channels[next.id]), "%s took over", next.id)
	for _, nd := range c.running() {
		if nd != next {
			select {
			case leading := <-channels[nd.id]:
				t.Fatalf("%s heard %v, but it never led", nd.id, leading)
			default:
			}
		}
	}
}

// stop may be called more than once, and a new channel works after another's stop.
func TestLeadershipChangesStop(t *testing.T) {
	c := newCluster(t, 1, nil)
	changes, stop := c.nodes[0].dlog.LeadershipChanges()
	require.True(t, nextLeading(t, changes))
	stop()
	stop()

	changes, stop = c.nodes[0].dlog.LeadershipChanges()
	defer stop()
	require.True(t, nextLeading(t, changes))
}
