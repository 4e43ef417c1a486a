package consensus_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/log"
	"golog/internal/testenv"
)

// testRaftConfig returns the Raft settings of the cluster tests: timeouts of a few
// hundred milliseconds, short enough for quick elections and long enough that a leader
// does not lose its lease on a busy CI machine running -race on 2 cores.
func testRaftConfig(id string) consensus.RaftConfig {
	return consensus.RaftConfig{
		LocalID:            raft.ServerID(id),
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond,
		CommitTimeout:      10 * time.Millisecond,
	}
}

// A testNode is one server of a testCluster. It keeps its directory and address across
// restarts; dlog and ln are nil while it is stopped.
type testNode struct {
	id   string
	dir  string
	addr string
	ln   net.Listener
	dlog *consensus.DistributedLog
}

// A testCluster is a set of servers on 127.0.0.1 whose Raft traffic goes over the TLS
// StreamLayer. Node 0 bootstraps the cluster (and keeps Bootstrap set when it restarts,
// which must change nothing); the others join through the leader.
type testCluster struct {
	t         testing.TB
	nodes     []*testNode
	tune      func(*consensus.RaftConfig) // changes to testRaftConfig, or nil
	partition *partition                  // every Raft connection goes through it
}

// newCluster starts a cluster of n servers and waits until all have joined. Every
// server still running when the test ends is closed.
func newCluster(t testing.TB, n int, tune func(*consensus.RaftConfig)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, tune: tune, partition: newPartition()}
	for i := range n {
		c.nodes = append(c.nodes, &testNode{id: fmt.Sprintf("node-%d", i), dir: testenv.TempDir(t)})
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.stop(nd)
		}
	})
	c.start(c.nodes[0])
	require.NoError(t, c.nodes[0].dlog.WaitForLeader(testenv.WaitFor))
	for _, nd := range c.nodes[1:] {
		c.start(nd)
		c.join(nd)
	}
	c.waitForServers(c.nodes...)
	return c
}

// start starts nd's server, at its old address if it had one.
func (c *testCluster) start(nd *testNode) {
	c.t.Helper()
	addr := nd.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	require.NoError(c.t, err)
	nd.addr = ln.Addr().String()
	tlsCerts := certs(c.t)
	stream, err := consensus.NewStreamLayer(ln, consensus.StreamLayerConfig{
		ServerTLSConfig: tlsCerts.serverTLS(),
		PeerTLSConfig:   tlsCerts.peerTLS(tlsCerts.server),
		ServerNames:     []string{"server"},
		Dial:            c.partition.dialer(nd.addr),
		Logger:          testenv.Logger(c.t),
	})
	require.NoError(c.t, err)

	var config consensus.Config
	config.Log.Segment.MaxIndexBytes = 16 * 12 // 16 records per segment: compaction removes segments
	config.Log.Logger = testenv.Logger(c.t)
	config.Raft = testRaftConfig(nd.id)
	config.Raft.StreamLayer = stream
	config.Raft.Bootstrap = nd == c.nodes[0]
	if c.tune != nil {
		c.tune(&config.Raft)
	}
	dlog, err := consensus.NewDistributedLog(nd.dir, config)
	if err != nil {
		_ = ln.Close()
	}
	require.NoError(c.t, err, "start %s", nd.id)
	nd.ln, nd.dlog = ln, dlog
}

// stop closes nd's server cleanly, if it is running.
func (c *testCluster) stop(nd *testNode) {
	c.t.Helper()
	if nd.dlog == nil {
		return
	}
	require.NoError(c.t, nd.dlog.Close(), "close %s", nd.id)
	require.NoError(c.t, nd.ln.Close())
	nd.dlog, nd.ln = nil, nil
}

// crash stops nd's server the hard way: Raft stops, and the files are taken as they
// are at that moment (indexes at their pre-allocated size, nothing closed cleanly), as
// kill -9 would leave them. The next start uses those files.
func (c *testCluster) crash(nd *testNode) {
	c.t.Helper()
	require.NoError(c.t, nd.dlog.Raft().Shutdown().Error())
	crashed := copyTree(c.t, nd.dir)
	c.stop(nd) // releases the old files; they are not used again
	nd.dir = crashed
}

// copyTree copies the regular files under dir into a new directory.
func copyTree(t testing.TB, dir string) string {
	t.Helper()
	dst := testenv.TempDir(t)
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	require.NoError(t, err)
	return dst
}

// running returns the nodes whose server is running.
func (c *testCluster) running() []*testNode {
	var nodes []*testNode
	for _, nd := range c.nodes {
		if nd.dlog != nil {
			nodes = append(nodes, nd)
		}
	}
	return nodes
}

// leader waits until a running server says it leads, and returns it.
func (c *testCluster) leader() *testNode {
	c.t.Helper()
	var leader *testNode
	require.Eventually(c.t, func() bool {
		for _, nd := range c.running() {
			if leads(nd) {
				leader = nd
				return true
			}
		}
		return false
	}, testenv.WaitFor, testenv.Tick, "no leader among the running servers")
	return leader
}

// leads reports whether nd's server says it is the leader.
func leads(nd *testNode) bool {
	servers, err := nd.dlog.GetServers()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if s.IsLeader && s.ID == nd.id {
			return true
		}
	}
	return false
}

// follower returns a running server that is not the leader.
func (c *testCluster) follower() *testNode {
	c.t.Helper()
	leader := c.leader()
	for _, nd := range c.running() {
		if nd != leader {
			return nd
		}
	}
	c.t.Fatal("no follower is running")
	return nil
}

// join adds nd to the cluster through the leader.
func (c *testCluster) join(nd *testNode) {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		for _, other := range c.running() {
			if other.dlog.Join(nd.id, nd.addr) == nil {
				return true
			}
		}
		return false
	}, testenv.WaitFor, testenv.Tick, "join %s", nd.id)
}

// waitForServers waits until every running server's configuration is exactly nodes.
func (c *testCluster) waitForServers(nodes ...*testNode) {
	c.t.Helper()
	want := map[string]string{}
	for _, nd := range nodes {
		want[nd.id] = nd.addr
	}
	for _, nd := range c.running() {
		require.Eventually(c.t, func() bool {
			servers, err := nd.dlog.GetServers()
			if err != nil || len(servers) != len(want) {
				return false
			}
			for _, s := range servers {
				if want[s.ID] != s.RPCAddr {
					return false
				}
			}
			return true
		}, testenv.WaitFor, testenv.Tick, "configuration of %s", nd.id)
	}
}

// append appends value through the leader and returns its offset. A server that turns
// out not to lead is no harm (nothing was appended), so it tries the next leader; any
// other error fails the test, since the record may or may not have been appended.
func (c *testCluster) append(value string) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(testenv.WaitFor)
	for {
		leader := c.leader()
		off, err := leader.dlog.Append(&log.Record{Value: []byte(value)})
		if err == nil {
			return off
		}
		if _, ok := errors.AsType[consensus.ErrNotLeader](err); !ok || time.Now().After(deadline) {
			c.t.Fatalf("append %q on %s: %v", value, leader.id, err)
		}
	}
}

// appendValues appends values[from:to], which are expected at offsets from to to-1.
func (c *testCluster) appendValues(values []string, from, to int) {
	c.t.Helper()
	for i := from; i < to; i++ {
		require.Equal(c.t, uint64(i), c.append(values[i]), "offset of %q", values[i])
	}
}

// values returns n values to append.
func values(n int) []string {
	v := make([]string, n)
	for i := range v {
		v[i] = "record-" + strconv.Itoa(i)
	}
	return v
}

// requireLog waits until nd's server holds exactly values, at offsets 0, 1, ...
func requireLog(t *testing.T, nd *testNode, values []string) {
	t.Helper()
	var last string
	ok := eventually(func() bool {
		for i, v := range values {
			r, err := nd.dlog.Read(uint64(i))
			if err != nil {
				last = fmt.Sprintf("Read(%d): %v", i, err)
				return false
			}
			if string(r.Value) != v || r.Offset != uint64(i) {
				last = fmt.Sprintf("Read(%d) = %q at offset %d, want %q", i, r.Value, r.Offset, v)
				return false
			}
		}
		if r, err := nd.dlog.Read(uint64(len(values))); err == nil {
			last = fmt.Sprintf("Read(%d) = %q, want the end of the log", len(values), r.Value)
			return false
		}
		return true
	})
	require.True(t, ok, "log of %s after %s: %s", nd.id, testenv.WaitFor, last)
}

// eventually polls condition every testenv.Tick until it holds or testenv.WaitFor has
// passed. Unlike require.Eventually it calls condition on the test's goroutine, so
// condition may keep the reason it failed.
func eventually(condition func() bool) bool {
	deadline := time.After(testenv.WaitFor)
	ticker := time.NewTicker(testenv.Tick)
	defer ticker.Stop()
	for !condition() {
		select {
		case <-deadline:
			return condition()
		case <-ticker.C:
		}
	}
	return true
}

func TestDistributedLogReplicates(t *testing.T) {
	c := newCluster(t, 3, nil)
	want := values(10)

	c.appendValues(want, 0, len(want))

	for _, nd := range c.nodes {
		requireLog(t, nd, want)
	}
}

func TestDistributedLogAppendOnFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader()
	follower := c.follower()

	_, err := follower.dlog.Append(&log.Record{Value: []byte("not here")})

	notLeader, ok := errors.AsType[consensus.ErrNotLeader](err)
	require.True(t, ok, "Append on a follower: %v", err)
	require.Equal(t, consensus.ErrNotLeader{LeaderAddr: leader.addr, LeaderID: leader.id}, notLeader)
	require.ErrorContains(t, err, leader.addr, "the message names the leader's address")
	requireLog(t, follower, nil)
	requireLog(t, leader, nil)
}

func TestDistributedLogGetServers(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader()

	for _, nd := range c.nodes {
		var servers []*consensus.Server
		require.Eventually(t, func() bool {
			var err error
			servers, err = nd.dlog.GetServers()
			return err == nil && len(servers) == 3 && (servers[0].IsLeader || servers[1].IsLeader || servers[2].IsLeader)
		}, testenv.WaitFor, testenv.Tick, "GetServers on %s", nd.id)
		for i, want := range c.nodes {
			require.Equal(t, consensus.Server{ID: want.id, RPCAddr: want.addr, IsLeader: want == leader}, *servers[i],
				"GetServers on %s, server %d", nd.id, i)
		}
	}
}

func TestDistributedLogRecordTooLarge(t *testing.T) {
	c := newCluster(t, 1, nil)
	leader := c.leader()

	_, err := leader.dlog.Append(&log.Record{Value: make([]byte, 2<<20)}) // segments hold 1 MiB

	require.ErrorIs(t, err, log.ErrRecordTooLarge)
	require.True(t, leads(leader), "a record too large never reaches Raft, so the leader stays")
	require.Equal(t, uint64(0), c.append("small"))
}

// The leader stops; the others elect a new one, writes go on, and every acknowledged
// record is on every server, at the offset it was acknowledged with. The old leader
// catches up when it returns.
func TestDistributedLogLeaderFailure(t *testing.T) {
	c := newCluster(t, 3, nil)
	want := values(10)
	c.appendValues(want, 0, 5)
	old := c.leader()

	c.stop(old)
	c.appendValues(want, 5, 10)

	require.NotEqual(t, old, c.leader())
	for _, nd := range c.running() {
		requireLog(t, nd, want)
	}
	c.start(old)
	requireLog(t, old, want)
	c.appendValues(append(want, "after the return"), 10, 11)
	for _, nd := range c.nodes {
		requireLog(t, nd, append(want, "after the return"))
	}
}

// A leader cut off from the other two hears from no majority, so its lease runs out
// (raft's LeaderLeaseTimeout) and it steps down; an append it took meanwhile is never
// committed. The other two elect a leader in a higher term and go on (§5.2). Once the
// old leader is back it learns the new term, and its log becomes the new leader's,
// without the entry it could not commit (§5.3, §5.4.1).
func TestDistributedLogPartitionedLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	want := values(3)
	c.appendValues(want, 0, 1)
	old := c.leader()
	oldTerm := old.dlog.Term()

	c.partition.Cut(old.addr)
	t.Logf("%s, the leader in term %d, is cut off", old.id, oldTerm)
	_, err := old.dlog.Append(&log.Record{Value: []byte("never committed")})
	require.Error(t, err, "an append on a leader cut off from the majority")

	var others []*testNode
	for _, nd := range c.nodes {
		if nd != old {
			others = append(others, nd)
		}
	}
	var next *testNode
	require.Eventually(t, func() bool {
		for _, nd := range others {
			if leads(nd) {
				next = nd
				return true
			}
		}
		return false
	}, testenv.WaitFor, testenv.Tick, "the two servers left never elected a leader")
	newTerm := next.dlog.Term()
	t.Logf("%s leads in term %d", next.id, newTerm)
	require.Greater(t, newTerm, oldTerm)
	for i := 1; i < len(want); i++ {
		off, err := next.dlog.Append(&log.Record{Value: []byte(want[i])})
		require.NoError(t, err)
		require.Equal(t, uint64(i), off)
	}

	c.partition.Heal(old.addr)
	for _, nd := range c.nodes {
		requireLog(t, nd, want)
	}
	require.Eventually(t, func() bool {
		term := old.dlog.Term()
		return term >= newTerm && term == next.dlog.Term()
	}, testenv.WaitFor, testenv.Tick, "%s never learned the cluster's term", old.id)
	t.Logf("%s is back, in term %d", old.id, old.dlog.Term())
}

// A follower that was down while the leader took a snapshot and compacted its Raft log
// can only catch up by InstallSnapshot: the entries it misses are gone. This fails if
// GetLog of a compacted index returns anything but raft.ErrLogNotFound (the leader
// compares with == and only that error makes it send a snapshot), or if the store
// cannot start again at the index after the snapshot's.
func TestDistributedLogFollowerCatchesUpFromSnapshot(t *testing.T) {
	c := newCluster(t, 3, func(rc *consensus.RaftConfig) {
		rc.TrailingLogs = 2 // compaction keeps only two entries
	})
	want := values(30)
	c.appendValues(want, 0, 5)
	follower := c.follower()
	requireLog(t, follower, want[:5])
	c.stop(follower)
	leader := c.leader()
	missedFrom := leader.dlog.Raft().LastIndex() + 1 // the follower has at most this - 1

	c.appendValues(want, 5, 25)
	require.NoError(t, leader.dlog.Raft().Snapshot().Error())
	first, err := leader.dlog.RaftFirstIndex()
	require.NoError(t, err)
	require.Greater(t, first, missedFrom, "the leader's Raft log no longer has what the follower misses")

	c.start(follower)
	requireLog(t, follower, want[:25])
	// raft records the installed snapshot just after it has restored it.
	require.Eventually(t, func() bool {
		index, err := strconv.ParseUint(follower.dlog.Raft().Stats()["last_snapshot_index"], 10, 64)
		return err == nil && index > missedFrom
	}, testenv.WaitFor, testenv.Tick, "the follower installed the leader's snapshot")

	// Replication goes on after the snapshot.
	c.appendValues(want, 25, 30)
	for _, nd := range c.nodes {
		requireLog(t, nd, want)
	}
}

// Every server stops, and they all start again from their files. The cluster must come
// back without bootstrapping again (raft refuses a second bootstrap with
// ErrCantBootstrap), and the data logs must hold every record once (raft applies the
// committed entries again on start), both the records in the snapshot and those after
// it.
func TestDistributedLogFullClusterRestart(t *testing.T) {
	c := newCluster(t, 3, nil)
	want := values(11)
	c.appendValues(want, 0, 5)
	require.NoError(t, c.leader().dlog.Raft().Snapshot().Error())
	c.appendValues(want, 5, 10)

	for _, nd := range c.nodes {
		c.stop(nd)
	}
	for _, nd := range c.nodes {
		c.start(nd)
	}

	c.waitForServers(c.nodes...)
	// An append after the restart is applied after every entry before it, so its offset
	// shows the leader's log has each record once.
	require.Equal(t, uint64(10), c.append(want[10]))
	for _, nd := range c.nodes {
		requireLog(t, nd, want)
	}
}

// A server stopped cleanly, and one that crashed, each come back with every record.
func TestDistributedLogNodeRestarts(t *testing.T) {
	tests := []struct {
		name string
		stop func(c *testCluster) *testNode
	}{
		{"follower stopped cleanly", func(c *testCluster) *testNode { nd := c.follower(); c.stop(nd); return nd }},
		{"follower crashed", func(c *testCluster) *testNode { nd := c.follower(); c.crash(nd); return nd }},
		{"leader crashed", func(c *testCluster) *testNode { nd := c.leader(); c.crash(nd); return nd }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 3, nil)
			want := values(20)
			c.appendValues(want, 0, 10)

			nd := tt.stop(c)
			c.appendValues(want, 10, 15)
			c.start(nd)

			requireLog(t, nd, want[:15])
			c.appendValues(want, 15, 20)
			for _, nd := range c.nodes {
				requireLog(t, nd, want)
			}
		})
	}
}

func TestDistributedLogLeaveAndJoin(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader()
	leaving := c.follower()
	var staying *testNode
	for _, nd := range c.nodes {
		if nd != leader && nd != leaving {
			staying = nd
		}
	}

	_, ok := errors.AsType[consensus.ErrNotLeader](staying.dlog.Leave(leaving.id))
	require.True(t, ok, "only the leader changes the cluster")

	require.NoError(t, leader.dlog.Leave(leaving.id))
	c.stop(leaving)
	c.waitForServers(leader, staying)
	require.NoError(t, leader.dlog.Leave(leaving.id), "leaving twice changes nothing")
	want := values(3)
	c.appendValues(want, 0, 3)
	requireLog(t, staying, want)

	// It comes back, and catches up.
	c.start(leaving)
	require.NoError(t, leader.dlog.Join(leaving.id, leaving.addr))
	require.NoError(t, leader.dlog.Join(leaving.id, leaving.addr), "joining twice changes nothing")
	c.waitForServers(c.nodes...)
	requireLog(t, leaving, want)
}

// Join of a known server at a new address (a server that moved) updates the address.
func TestDistributedLogJoinNewAddress(t *testing.T) {
	c := newCluster(t, 3, nil)
	moving := c.follower()
	c.stop(moving)
	moving.addr = "" // start on a new port

	c.start(moving)
	c.join(moving)

	c.waitForServers(c.nodes...)
	want := values(2)
	c.appendValues(want, 0, 2)
	requireLog(t, moving, want)
}

// Quorum arithmetic: 2f+1 servers keep accepting writes with f down, and with more down
// they refuse them, promptly rather than hanging: a leader that cannot reach a majority
// steps down (no split writes, Raft paper §5.2, §5.4).
func TestDistributedLogQuorum(t *testing.T) {
	tests := []struct {
		servers, tolerated int
	}{
		{servers: 3, tolerated: 1},
		{servers: 5, tolerated: 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d servers", tt.servers), func(t *testing.T) {
			c := newCluster(t, tt.servers, nil)
			want := values(tt.tolerated + 1)
			c.appendValues(want, 0, 1)

			for i := range tt.tolerated {
				c.stop(c.follower())
				c.appendValues(want, i+1, i+2)
			}
			for _, nd := range c.running() {
				requireLog(t, nd, want)
			}

			// One too many. The leader steps down once its lease runs out, and no other
			// can be elected, so take it before.
			leader := c.leader()
			c.stop(c.follower())
			start := time.Now()
			_, err := leader.dlog.Append(&log.Record{Value: []byte("no quorum")})
			require.Error(t, err, "a write without a quorum")
			require.Less(t, time.Since(start), testenv.WaitFor, "the refusal is prompt")
			t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
			for _, nd := range c.running() {
				_, err := nd.dlog.Read(uint64(len(want)))
				require.ErrorAs(t, err, new(log.ErrOffsetOutOfRange), "%s applied a write without a quorum", nd.id)
			}
		})
	}
}

func TestDistributedLogCloseIsIdempotent(t *testing.T) {
	c := newCluster(t, 1, nil)
	nd := c.nodes[0]
	require.NoError(t, nd.dlog.Close())
	require.NoError(t, nd.dlog.Close())
	_, err := nd.dlog.Append(&log.Record{Value: []byte("x")})
	require.ErrorIs(t, err, log.ErrClosed)
	require.NoError(t, nd.ln.Close())
	nd.dlog, nd.ln = nil, nil
}

// A new server at the address of one that is gone (a replaced machine) takes its place
// in the configuration: the old entry is removed, not left to count toward the quorum.
func TestDistributedLogJoinReplacesServerAtSameAddress(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader()
	gone := c.follower()
	var staying *testNode
	for _, nd := range c.nodes {
		if nd != leader && nd != gone {
			staying = nd
		}
	}
	c.stop(gone)
	replacement := &testNode{id: "node-new", dir: testenv.TempDir(t), addr: gone.addr}
	c.nodes = append(c.nodes, replacement)

	c.start(replacement)
	c.join(replacement)

	c.waitForServers(leader, staying, replacement)
	want := values(3)
	c.appendValues(want, 0, 3)
	requireLog(t, replacement, want)
}

func TestDistributedLogWaitForLeaderTimesOut(t *testing.T) {
	c := &testCluster{t: t, nodes: []*testNode{
		{id: "node-0", dir: testenv.TempDir(t)}, // never started: the cluster has no bootstrapper
		{id: "node-1", dir: testenv.TempDir(t)},
	}}
	c.start(c.nodes[1])
	t.Cleanup(func() { c.stop(c.nodes[1]) })

	err := c.nodes[1].dlog.WaitForLeader(300 * time.Millisecond)

	require.ErrorContains(t, err, "no leader after 300ms")
	_, err = c.nodes[1].dlog.Append(&log.Record{Value: []byte("x")})
	require.Equal(t, consensus.ErrNotLeader{}, err, "a server that knows no leader says so")
}

func TestNewDistributedLogConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*consensus.RaftConfig)
	}{
		{"no LocalID", func(rc *consensus.RaftConfig) { rc.LocalID = "" }},
		{"no StreamLayer", func(rc *consensus.RaftConfig) { rc.StreamLayer = nil }},
		{"lease longer than heartbeat", func(rc *consensus.RaftConfig) { rc.LeaderLeaseTimeout = time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tlsCerts := certs(t)
			stream, err := consensus.NewStreamLayer(listen(t), consensus.StreamLayerConfig{
				ServerTLSConfig: tlsCerts.serverTLS(),
				PeerTLSConfig:   tlsCerts.peerTLS(tlsCerts.server),
				ServerNames:     []string{"server"},
			})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, stream.Close()) })
			var config consensus.Config
			config.Raft = testRaftConfig("node-0")
			config.Raft.StreamLayer = stream
			tt.edit(&config.Raft)

			_, err = consensus.NewDistributedLog(testenv.TempDir(t), config)

			require.Error(t, err)
		})
	}
}

// A second server on the same data directory is refused before it touches anything:
// the first one keeps its records.
func TestNewDistributedLogDirectoryInUse(t *testing.T) {
	c := newCluster(t, 1, nil)
	want := values(2)
	c.appendValues(want, 0, 2)
	first := c.nodes[0]

	second := &testNode{id: "node-0", dir: first.dir}
	ln := listen(t)
	tlsCerts := certs(t)
	stream, err := consensus.NewStreamLayer(ln, consensus.StreamLayerConfig{
		ServerTLSConfig: tlsCerts.serverTLS(),
		PeerTLSConfig:   tlsCerts.peerTLS(tlsCerts.server),
		ServerNames:     []string{"server"},
	})
	require.NoError(t, err)
	var config consensus.Config
	config.Raft = testRaftConfig(second.id)
	config.Raft.StreamLayer = stream
	_, err = consensus.NewDistributedLog(second.dir, config)

	require.ErrorIs(t, err, log.ErrInUse)
	requireLog(t, first, want)
}
