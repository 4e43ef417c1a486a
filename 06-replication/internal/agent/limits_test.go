package agent_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	api "golog/api/v1"
	"golog/internal/testenv"
)

// The tests in this file pin down what pull replication does not do. They pass because
// of its limits; a stronger design (07-raft) makes them fail.

// TestEveryServerAcceptsWritesAndOrdersThemItsOwnWay shows that there is no single
// writer and no common order: two servers accept a record each, and after replication
// each holds both, its own first. The same record has offset 0 on one server and 1 on
// the other, so an offset means nothing outside the server that gave it, and a
// consumer cannot move from one server to another and go on where it was.
func TestEveryServerAcceptsWritesAndOrdersThemItsOwnWay(t *testing.T) {
	c := newCluster(t)
	// Two servers that do not know each other yet each accept a write.
	agent0 := c.start(c.config("agent-0", testenv.TempDir(t), ""))
	require.Equal(t, uint64(0), produce(t, c.client(agent0), "a"))
	dir1 := testenv.TempDir(t)
	alone := c.start(c.config("agent-1", dir1, ""))
	require.Equal(t, uint64(0), produce(t, c.client(alone), "b"))
	require.NoError(t, alone.Shutdown())

	// agent-1 comes back and joins agent-0; each copies the other's record.
	agent1 := c.start(c.config("agent-1", dir1, "", agent0.BindAddr()))
	waitForOrder(t, c.client(agent0), "agent-0/a", "agent-1/b")
	waitForOrder(t, c.client(agent1), "agent-1/b", "agent-0/a")
}

// TestARestartedServerCopiesEverythingAgain shows that a server forgets, when it
// restarts, how far it had copied each peer's log: it copies every peer's records
// again from the start, and holds them twice. The Replicator keeps its place in each
// peer's log in memory only.
func TestARestartedServerCopiesEverythingAgain(t *testing.T) {
	c := newCluster(t)
	agent0 := c.start(c.config("agent-0", testenv.TempDir(t), ""))
	dir1 := testenv.TempDir(t)
	agent1 := c.start(c.config("agent-1", dir1, "", agent0.BindAddr()))
	produce(t, c.client(agent0), "a")
	waitForOrder(t, c.client(agent1), "agent-0/a")

	require.NoError(t, agent1.Shutdown())
	agent1 = c.start(c.config("agent-1", dir1, "", agent0.BindAddr()))
	waitForOrder(t, c.client(agent1), "agent-0/a", "agent-0/a")
}

// waitForOrder waits until the server of client holds exactly want, in this order.
func waitForOrder(t *testing.T, client api.LogClient, want ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := contents(t.Context(), client)
		require.NoError(c, err)
		require.Equal(c, want, got)
	}, testenv.WaitFor, testenv.Tick)
}
