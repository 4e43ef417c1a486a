package agent_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/agent"
	"golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/log"
	"golog/internal/testenv"
)

// fastGossip tunes Serf for a few servers on the loopback interface: joins and leaves
// spread in milliseconds, and Shutdown's graceful leave takes a fraction of a second.
// The failure detector keeps timers loose enough that a live server under -race is
// never taken for dead. Once a member is declared failed, nobody probes it any more:
// Serf's reconnect, every ReconnectInterval, is what finds it back after a partition.
func fastGossip(c *serf.Config) {
	ml := c.MemberlistConfig
	ml.GossipInterval = 10 * time.Millisecond // default: 200ms
	ml.ProbeInterval = 100 * time.Millisecond // default: 1s
	ml.ProbeTimeout = 50 * time.Millisecond   // default: 500ms
	ml.TCPTimeout = 500 * time.Millisecond    // default: 10s
	ml.SuspicionMult = 10                     // default: 4
	ml.SuspicionMaxTimeoutMult = 1            // default: 6
	c.LeavePropagateDelay = 50 * time.Millisecond
	c.BroadcastTimeout = time.Second
	c.ReconnectInterval = 200 * time.Millisecond // default: 30s
}

// fastRaft tunes Raft for the tests: elections within a few hundred milliseconds
// instead of seconds, and timeouts long enough that a leader does not lose its lease on
// a busy machine running -race (50 ms ones do).
func fastRaft(c *consensus.RaftConfig) {
	c.HeartbeatTimeout = 200 * time.Millisecond   // default: 1s
	c.ElectionTimeout = 200 * time.Millisecond    // default: 1s
	c.LeaderLeaseTimeout = 200 * time.Millisecond // default: 500ms
	c.CommitTimeout = 10 * time.Millisecond       // default: 50ms
}

// A node is one server of a test cluster. It keeps its name, directory and RPC address
// across restarts; agent and client are nil while it is stopped.
type node struct {
	name    string
	dir     string
	rpcAddr string // empty until the first start picks a port
	agent   *agent.Agent
	client  api.LogClient // as root
	httpURL string        // the HTTP API, on a new port at each start
}

// cluster makes the configs of a test's agents, which share certificates, ACL, gossip
// label and Raft tuning, starts and stops them, and shuts down those still running
// when the test ends.
type cluster struct {
	t         *testing.T
	serverTLS *tls.Config
	peerTLS   *tls.Config // the server certificate as a client: the agents speak Raft with it
	rootTLS   *tls.Config // the test's clients
	model     string
	policy    string
	label     string                      // keeps this test's gossip apart from other tests' on the machine
	raftTune  func(*consensus.RaftConfig) // applied after fastRaft, or nil
	// configure, if set, changes each agent's Config last (partition.attach does).
	configure func(nd *node, cfg *agent.Config)
}

func newCluster(t *testing.T, raftTune func(*consensus.RaftConfig)) *cluster {
	t.Helper()
	c := &cluster{t: t, label: fmt.Sprintf("%s/%d", t.Name(), os.Getpid()), raftTune: raftTune}
	certs := testenv.Certs(t)
	var err error
	c.serverTLS, err = config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	c.peerTLS, err = config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	c.rootTLS, err = config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	c.model, c.policy = testenv.ACL(t)
	return c
}

// config returns the Config of nd's agent: its RPC port (a free one the first time),
// gossip and HTTP on free ports, joining through seeds, and bootstrapping a new
// cluster when there are no seeds, as cmd/server does; then c.configure, if set.
func (c *cluster) config(nd *node, seeds ...string) agent.Config {
	c.t.Helper()
	addr := nd.rpcAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	require.NoError(c.t, err)
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(c.t, err)
	cfg := agent.Config{
		NodeName:        nd.name,
		DataDir:         nd.dir,
		BindAddr:        "127.0.0.1:0",
		StartJoinAddrs:  seeds,
		Bootstrap:       len(seeds) == 0,
		RPCListener:     lis,
		HTTPListener:    httpLis,
		ServerTLSConfig: c.serverTLS,
		PeerTLSConfig:   c.peerTLS,
		ACLModelFile:    c.model,
		ACLPolicyFile:   c.policy,
		Logger:          testenv.Logger(c.t),
		Tune: func(sc *serf.Config) {
			fastGossip(sc)
			sc.MemberlistConfig.Label = c.label
		},
		RaftTune: func(rc *consensus.RaftConfig) {
			fastRaft(rc)
			if c.raftTune != nil {
				c.raftTune(rc)
			}
		},
	}
	if c.configure != nil {
		c.configure(nd, &cfg)
	}
	return cfg
}

// newNode returns a node called name with a new data directory, not started.
func (c *cluster) newNode(name string) *node {
	return &node{name: name, dir: testenv.TempDir(c.t)}
}

// start starts nd with cfg (from c.config(nd, …)), and shuts it down when the test
// ends if it is still running.
func (c *cluster) start(nd *node, cfg agent.Config) {
	c.t.Helper()
	a, err := agent.New(cfg)
	require.NoError(c.t, err, "start %s", nd.name)
	c.t.Cleanup(func() { require.NoError(c.t, a.Shutdown(), "Shutdown %s", nd.name) })
	nd.agent, nd.rpcAddr, nd.httpURL = a, a.RPCAddr(), "http://"+a.HTTPAddr()
	nd.client = c.client(a.RPCAddr(), c.rootTLS)
}

// stop shuts nd down.
func (c *cluster) stop(nd *node) {
	c.t.Helper()
	require.NoError(c.t, nd.agent.Shutdown(), "Shutdown %s", nd.name)
	nd.agent, nd.client = nil, nil
}

// startN starts the servers "agent-0" … "agent-(n-1)": agent-0 bootstraps, the others
// join through it. It returns once every server has every other in its configuration.
func (c *cluster) startN(n int) []*node {
	c.t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = c.newNode(fmt.Sprintf("agent-%d", i))
		if i == 0 {
			c.start(nodes[i], c.config(nodes[i]))
		} else {
			c.start(nodes[i], c.config(nodes[i], nodes[0].agent.BindAddr()))
		}
	}
	waitForServers(c.t, nodes...)
	return nodes
}

// client returns a gRPC client of the server at addr, connecting with tlsConfig.
func (c *cluster) client(addr string, tlsConfig *tls.Config) api.LogClient {
	c.t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	require.NoError(c.t, err)
	c.t.Cleanup(func() { require.NoError(c.t, conn.Close()) })
	return api.NewLogClient(conn)
}

// running returns the nodes that are running.
func running(nodes []*node) []*node {
	return slices.DeleteFunc(slices.Clone(nodes), func(nd *node) bool { return nd.agent == nil })
}

// leads reports whether nd says, through GetServers, that it is the leader.
func leads(t *testing.T, nd *node) bool {
	res, err := nd.client.GetServers(t.Context(), &api.GetServersRequest{})
	if err != nil {
		return false
	}
	return slices.ContainsFunc(res.Servers, func(s *api.Server) bool { return s.IsLeader && s.Id == nd.name })
}

// leader waits until one of the running nodes says it leads, and returns it.
func leader(t *testing.T, nodes []*node) *node {
	t.Helper()
	var found *node
	require.Eventually(t, func() bool {
		for _, nd := range running(nodes) {
			if leads(t, nd) {
				found = nd
				return true
			}
		}
		return false
	}, testenv.WaitFor, testenv.Tick, "no leader among the running servers")
	return found
}

// followers returns the running nodes other than lead.
func followers(nodes []*node, lead *node) []*node {
	return slices.DeleteFunc(running(nodes), func(nd *node) bool { return nd == lead })
}

// waitForServers waits until every one of nodes lists exactly nodes, at their RPC
// addresses, in its Raft configuration, with a leader among them.
func waitForServers(t *testing.T, nodes ...*node) {
	t.Helper()
	want := map[string]string{}
	for _, nd := range nodes {
		want[nd.name] = nd.rpcAddr
	}
	for _, nd := range nodes {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			res, err := nd.client.GetServers(t.Context(), &api.GetServersRequest{})
			require.NoError(c, err)
			got := map[string]string{}
			leaders := 0
			for _, s := range res.Servers {
				got[s.Id] = s.RpcAddr
				if s.IsLeader {
					leaders++
				}
			}
			require.Equal(c, want, got)
			require.Equal(c, 1, leaders, "servers marked as leader")
		}, testenv.WaitFor, testenv.Tick, "the servers %s lists", nd.name)
	}
}

// produce appends value through the leader among nodes and returns its offset. A
// NOT_LEADER answer means nothing was appended (leadership moved after the leader was
// found), so it tries again; any other error fails the test, since the record may or
// may not have been appended.
func produce(t *testing.T, nodes []*node, value string) uint64 {
	t.Helper()
	deadline := time.Now().Add(testenv.WaitFor)
	for {
		nd := leader(t, nodes)
		res, err := nd.client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte(value)}})
		if err == nil {
			return res.Offset
		}
		if reason(err) != api.ReasonNotLeader || time.Now().After(deadline) {
			t.Fatalf("produce %q on %s: %v", value, nd.name, err)
		}
	}
}

// produceAll produces values through the leader, and checks that they get the offsets
// from first on, one after the other.
func produceAll(t *testing.T, nodes []*node, first uint64, values ...string) {
	t.Helper()
	for i, v := range values {
		require.Equal(t, first+uint64(i), produce(t, nodes, v), "offset of %q", v)
	}
}

// reason returns the ErrorInfo reason of a gRPC error, or "" if it has none.
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return ""
}

// waitForRecords waits until nd holds exactly want: want[i] at offset i, and nothing
// after. Followers apply committed records a moment after the leader acknowledges them.
func waitForRecords(t *testing.T, nd *node, want ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for i, v := range want {
			res, err := nd.client.Consume(t.Context(), &api.ConsumeRequest{Offset: uint64(i)})
			require.NoError(c, err, "offset %d", i)
			require.Equal(c, v, string(res.Record.Value), "offset %d", i)
			require.Equal(c, uint64(i), res.Record.Offset)
		}
		_, err := nd.client.Consume(t.Context(), &api.ConsumeRequest{Offset: uint64(len(want))})
		require.Equal(c, codes.OutOfRange, status.Code(err), "offset %d, past the end", len(want))
	}, testenv.WaitFor, testenv.Tick, "the records of %s", nd.name)
}

func TestFollowersServeTheLeadersRecords(t *testing.T) {
	c := newCluster(t, nil)
	nodes := c.startN(3)
	want := []string{"first", "second", "third"}
	produceAll(t, nodes, 0, want...)

	lead := leader(t, nodes)
	for _, nd := range nodes {
		waitForRecords(t, nd, want...)
	}

	// A follower refuses writes, and tells the client where the leader is.
	for _, nd := range followers(nodes, lead) {
		_, err := nd.client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("nope")}})
		require.Equal(t, codes.FailedPrecondition, status.Code(err), "produce on %s: %v", nd.name, err)
		var info *errdetails.ErrorInfo
		for _, d := range status.Convert(err).Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		require.NotNil(t, info, "the error of %s has no ErrorInfo", nd.name)
		require.Equal(t, api.ReasonNotLeader, info.Reason)
		require.Equal(t, map[string]string{"leader_id": lead.name, "leader_addr": lead.rpcAddr}, info.Metadata)
	}
	for _, nd := range nodes {
		waitForRecords(t, nd, want...) // the refused writes left no trace
	}

	// The HTTP API too: a follower answers 503, the leader appends.
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	record := `{"record": {"value": "fourth"}}`
	for _, nd := range followers(nodes, lead) {
		status, body := post(t, client, nd.httpURL, record)
		require.Equal(t, http.StatusServiceUnavailable, status, "POST to %s: %s", nd.name, body)
	}
	status, body := post(t, client, lead.httpURL, record)
	require.Equal(t, http.StatusOK, status, body)
	require.JSONEq(t, `{"offset": 3}`, body)
	for _, nd := range nodes {
		waitForRecords(t, nd, append(want, "fourth")...)
	}
}

// post sends body to url in a POST request, as curl -d does, and returns the answer.
func post(t *testing.T, client *http.Client, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestANewLeaderTakesOver(t *testing.T) {
	c := newCluster(t, nil)
	nodes := c.startN(3)
	want := []string{"before-0", "before-1", "before-2"}
	produceAll(t, nodes, 0, want...)

	old := leader(t, nodes)
	c.stop(old)
	survivors := running(nodes)
	next := leader(t, survivors)
	require.NotEqual(t, old.name, next.name)

	after := []string{"after-0", "after-1", "after-2"}
	produceAll(t, survivors, uint64(len(want)), after...)
	want = append(want, after...)
	for _, nd := range survivors {
		waitForRecords(t, nd, want...)
	}
	// The old leader left the configuration (it removed itself before stopping).
	waitForServers(t, survivors...)
}

// newestSnapshot returns the index of the newest snapshot a server has taken or
// installed, 0 if none. raft's file snapshot store, which the log keeps under
// raft/snapshots in the data directory, names each snapshot TERM-INDEX-MILLISECONDS,
// with a .tmp suffix while it is being written.
func newestSnapshot(t *testing.T, dataDir string) uint64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, "raft", "snapshots"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	require.NoError(t, err)
	var newest uint64
	for _, e := range entries {
		parts := strings.Split(e.Name(), "-")
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") || len(parts) != 3 {
			continue
		}
		index, err := strconv.ParseUint(parts[1], 10, 64)
		require.NoError(t, err, "snapshot %s", e.Name())
		newest = max(newest, index)
	}
	return newest
}

func TestFollowerCatchesUpAfterCompaction(t *testing.T) {
	const trailingLogs = 4
	c := newCluster(t, func(rc *consensus.RaftConfig) {
		rc.SnapshotThreshold = 8                    // default: 8192 entries
		rc.SnapshotInterval = 50 * time.Millisecond // default: 2 minutes
		rc.TrailingLogs = trailingLogs              // default: 10240 entries
	})
	nodes := c.startN(3)
	want := []string{"before-0", "before-1", "before-2"}
	produceAll(t, nodes, 0, want...)
	down := followers(nodes, leader(t, nodes))[0]
	waitForRecords(t, down, want...)
	c.stop(down)

	// The stopped follower's Raft log ends no further than the cluster's did: the
	// records so far, a few configuration entries and a no-op per leader's term (20
	// covers many elections). Once the leader has a snapshot past that bound, plus
	// trailingLogs, it has cut the entries the follower lacks from its own Raft log,
	// and the follower can only catch up from the snapshot.
	bound := uint64(len(want)) + 20 + trailingLogs
	deadline := time.Now().Add(testenv.WaitFor)
	for i := 0; newestSnapshot(t, leader(t, nodes).dir) <= bound; i++ {
		require.True(t, time.Now().Before(deadline), "no snapshot past index %d after %s", bound, testenv.WaitFor)
		v := "while-down-" + strconv.Itoa(i)
		require.Equal(t, uint64(len(want)), produce(t, nodes, v), "offset of %q", v)
		want = append(want, v)
	}
	t.Logf("%d records written while %s was down", len(want)-3, down.name)

	// It comes back with its directory and address, and the leader adds it back.
	c.start(down, c.config(down, running(nodes)[0].agent.BindAddr()))
	waitForRecords(t, down, want...)

	// And it follows from there.
	produceAll(t, nodes, uint64(len(want)), "after")
	want = append(want, "after")
	for _, nd := range nodes {
		waitForRecords(t, nd, want...)
	}
	waitForServers(t, nodes...)
}

func TestFullClusterRestart(t *testing.T) {
	c := newCluster(t, nil)
	nodes := c.startN(3)
	want := []string{"first", "second", "third"}
	produceAll(t, nodes, 0, want...)
	lead := leader(t, nodes)
	for _, nd := range nodes {
		waitForRecords(t, nd, want...)
	}

	// The followers stop first, the leader last: every server is down.
	for _, nd := range append(followers(nodes, lead), lead) {
		c.stop(nd)
	}

	// Everyone comes back from disk. agent-0 still has Bootstrap set (no seeds), which
	// it must ignore: it has Raft state, and a second cluster would split the log.
	c.start(nodes[0], c.config(nodes[0]))
	for _, nd := range nodes[1:] {
		c.start(nd, c.config(nd, nodes[0].agent.BindAddr()))
	}
	waitForServers(t, nodes...)
	for _, nd := range nodes {
		waitForRecords(t, nd, want...)
	}
	// The next record follows the old ones: no server applied them twice.
	produceAll(t, nodes, uint64(len(want)), "fourth")
	for _, nd := range nodes {
		waitForRecords(t, nd, append(want, "fourth")...)
	}
}

func TestALeavingServerIsRemoved(t *testing.T) {
	c := newCluster(t, nil)
	nodes := c.startN(3)
	gone := followers(nodes, leader(t, nodes))[0]
	c.stop(gone)
	waitForServers(t, running(nodes)...)

	// The two that are left still make a quorum of their configuration.
	produceAll(t, nodes, 0, "still writable")
	for _, nd := range running(nodes) {
		waitForRecords(t, nd, "still writable")
	}
}

// gossipStatus returns the status of the member name as nd's gossip sees it, or
// serf.StatusNone if nd does not know it.
func gossipStatus(nd *node, name string) serf.MemberStatus {
	for _, m := range nd.agent.GossipMembers() {
		if m.Name == name {
			return m.Status
		}
	}
	return serf.StatusNone
}

// waitForGossip waits until nd's gossip says that the member name has status.
func waitForGossip(t *testing.T, nd *node, name string, status serf.MemberStatus) {
	t.Helper()
	require.Eventually(t, func() bool { return gossipStatus(nd, name) == status },
		testenv.WaitFor, testenv.Tick, "%s never saw %s %s", nd.name, name, status)
}

// A voterWatch asks every server of a cluster for its Raft configuration (GetServers),
// again and again until the test ends, and remembers the smallest it saw. A server
// lists the latest configuration it has heard of, committed or not, and one that is
// cut off lists the last it knew.
type voterWatch struct {
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	fewest []string // guarded by mu; the smallest configuration seen, as "name@server"
}

// watchVoters starts watching the configurations of nodes, which must be running.
func watchVoters(t *testing.T, nodes []*node) *voterWatch {
	t.Helper()
	w := &voterWatch{stop: make(chan struct{}), done: make(chan struct{})}
	clients := make(map[string]api.LogClient, len(nodes))
	for _, nd := range nodes {
		clients[nd.name] = nd.client
	}
	go func() {
		defer close(w.done)
		ticker := time.NewTicker(testenv.Tick)
		defer ticker.Stop()
		for {
			for name, client := range clients {
				ctx, cancel := context.WithTimeout(t.Context(), testenv.WaitFor)
				res, err := client.GetServers(ctx, &api.GetServersRequest{})
				cancel()
				if err == nil {
					w.saw(name, res.Servers)
				}
			}
			select {
			case <-ticker.C:
			case <-w.stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(w.stop)
		<-w.done
	})
	return w
}

// saw records that the server name listed servers.
func (w *voterWatch) saw(name string, servers []*api.Server) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fewest != nil && len(servers) >= len(w.fewest) {
		return
	}
	w.fewest = make([]string, len(servers))
	for i, s := range servers {
		w.fewest[i] = s.Id + "@" + name
	}
}

// requireNeverFewer fails the test if a server has listed fewer than n servers since
// the watch started.
func (w *voterWatch) requireNeverFewer(t *testing.T, n int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	require.NotNil(t, w.fewest, "no configuration seen")
	require.GreaterOrEqual(t, len(w.fewest), n, "a configuration with fewer voters (server@who listed it): %v", w.fewest)
}

// A server cut off from the others for longer than the failure detection stays a
// voter: gossip reports it failed, but a failure is no leave, and the server is back
// long before RemoveFailedAfter. So when the leader is cut off next, while its gossip
// still says the follower failed, the other two make a majority of the three voters
// and elect a leader. Had the leader removed the follower as soon as gossip reported it
// failed, the follower would be out and the server left would need the cut-off leader's
// vote: the cluster would stop with two of its three servers up.
func TestAPartitionCostsNoVote(t *testing.T) {
	c := newCluster(t, nil)
	p := newPartition(t)
	c.configure = p.attach
	nodes := c.startN(3)
	voters := watchVoters(t, nodes)
	want := []string{"before"}
	produceAll(t, nodes, 0, want...)

	// A follower is cut off until both sides' gossip says the other failed. The other
	// two go on writing.
	lead := leader(t, nodes)
	cut := followers(nodes, lead)[0]
	p.Cut(cut)
	waitForGossip(t, lead, cut.name, serf.StatusFailed)
	waitForGossip(t, cut, lead.name, serf.StatusFailed)
	produceAll(t, nodes, 1, "while one is cut off")
	want = append(want, "while one is cut off")
	p.Heal(cut)
	waitForGossip(t, lead, cut.name, serf.StatusAlive)
	for _, nd := range nodes {
		waitForRecords(t, nd, want...)
	}
	voters.requireNeverFewer(t, 3)

	// A follower is cut off again; once the leader's gossip says it failed, the leader
	// is cut off too, and the follower comes back. The leader never hears of it.
	lead = leader(t, nodes)
	fs := followers(nodes, lead)
	cut, other := fs[0], fs[1]
	p.Cut(cut)
	waitForGossip(t, lead, cut.name, serf.StatusFailed)
	p.Cut(lead)
	p.Heal(cut)
	require.Equal(t, serf.StatusFailed, gossipStatus(lead, cut.name), "the cut-off leader's view of %s", cut.name)
	survivors := []*node{cut, other}
	next := leader(t, survivors)
	t.Logf("%s leads without %s", next.name, lead.name)
	produceAll(t, survivors, uint64(len(want)), "new leader")
	want = append(want, "new leader")

	// The old leader comes back as a follower, and every server is still a voter.
	p.Heal(lead)
	waitForServers(t, nodes...)
	for _, nd := range nodes {
		waitForRecords(t, nd, want...)
	}
	voters.requireNeverFewer(t, 3)
}

// A server that stays failed for RemoveFailedAfter is removed (the other two still
// make a quorum), and it is a voter again as soon as it is back.
func TestAServerFailedForLongIsRemovedAndAddedBack(t *testing.T) {
	c := newCluster(t, nil)
	p := newPartition(t)
	c.configure = func(nd *node, cfg *agent.Config) {
		p.attach(nd, cfg)
		cfg.RemoveFailedAfter = time.Second
	}
	nodes := c.startN(3)
	lead := leader(t, nodes)
	fs := followers(nodes, lead)
	gone, other := fs[0], fs[1]

	p.Cut(gone)
	waitForServers(t, lead, other)
	produceAll(t, nodes, 0, "without it")

	p.Heal(gone)
	waitForServers(t, nodes...)
	produceAll(t, nodes, 1, "with it")
	for _, nd := range nodes {
		waitForRecords(t, nd, "without it", "with it")
	}
}

// The leader of two takes itself out of the configuration as it stops. Without that,
// the server left would need a majority of two, its own vote and the stopped one's.
func TestTheLastOfTwoCarriesOn(t *testing.T) {
	c := newCluster(t, nil)
	nodes := c.startN(2)
	produceAll(t, nodes, 0, "first")
	c.stop(leader(t, nodes))

	last := running(nodes)
	waitForServers(t, last...)
	produceAll(t, last, 1, "second")
	waitForRecords(t, last[0], "first", "second")
}

func TestNobodyIsDenied(t *testing.T) {
	c := newCluster(t, nil)
	nodes := c.startN(1)
	certs := testenv.Certs(t)
	nobodyTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.NobodyClientCertFile, KeyFile: certs.NobodyClientKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	nobody := c.client(nodes[0].rpcAddr, nobodyTLS)
	produceAll(t, nodes, 0, "secret")

	_, err = nobody.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("x")}})
	require.Equal(t, codes.PermissionDenied, status.Code(err), "Produce: %v", err)
	_, err = nobody.Consume(t.Context(), &api.ConsumeRequest{Offset: 0})
	require.Equal(t, codes.PermissionDenied, status.Code(err), "Consume: %v", err)
	_, err = nobody.GetServers(t.Context(), &api.GetServersRequest{})
	require.Equal(t, codes.PermissionDenied, status.Code(err), "GetServers: %v", err)

	// A stream's status comes with Recv. Send may fail with io.EOF once the server
	// has ended the stream, which says nothing about why.
	consume, err := nobody.ConsumeStream(t.Context(), &api.ConsumeRequest{Offset: 0})
	require.NoError(t, err)
	_, err = consume.Recv()
	require.Equal(t, codes.PermissionDenied, status.Code(err), "ConsumeStream: %v", err)
	produceStream, err := nobody.ProduceStream(t.Context())
	require.NoError(t, err)
	if err := produceStream.Send(&api.ProduceRequest{Record: &api.Record{Value: []byte("x")}}); err != nil {
		require.ErrorIs(t, err, io.EOF)
	}
	_, err = produceStream.Recv()
	require.Equal(t, codes.PermissionDenied, status.Code(err), "ProduceStream: %v", err)

	waitForRecords(t, nodes[0], "secret") // nothing was written
}

func TestShutdownReleasesPortsAndFiles(t *testing.T) {
	c := newCluster(t, nil)
	nd := c.newNode("agent-0")
	cfg := c.config(nd)
	first, err := agent.New(cfg)
	require.NoError(t, err)
	nd.agent, nd.rpcAddr = first, first.RPCAddr()
	nd.client = c.client(nd.rpcAddr, c.rootTLS)
	nodes := []*node{nd}
	produceAll(t, nodes, 0, "kept")
	bindAddr := first.BindAddr()

	// Shutdown twice, concurrently: both calls wait for the one shutdown, and agree.
	var wg sync.WaitGroup
	results := make([]error, 2)
	for i := range results {
		wg.Go(func() { results[i] = first.Shutdown() })
	}
	wg.Wait()
	require.Equal(t, []error{nil, nil}, results)
	require.NoError(t, first.Shutdown(), "Shutdown after Shutdown")
	<-first.Stopped()

	// The same directory, the same RPC port and the same gossip port. The server
	// was alone, so it stayed in its configuration, and elects itself again.
	cfg = c.config(nd)
	cfg.BindAddr = bindAddr
	c.start(nd, cfg)
	require.Equal(t, bindAddr, nd.agent.BindAddr())
	produceAll(t, nodes, 1, "new")
	waitForRecords(t, nd, "kept", "new")
}

func TestNewCleansUpWhenAStepFails(t *testing.T) {
	c := newCluster(t, nil)
	taken := c.newNode("agent-0")
	c.start(taken, c.config(taken))

	// The data directory is in use: New fails after listening, and closes the listener.
	cfg := c.config(&node{name: "agent-1", dir: taken.dir})
	_, err := agent.New(cfg)
	require.ErrorIs(t, err, log.ErrInUse)
	_, err = cfg.RPCListener.Accept()
	require.ErrorIs(t, err, net.ErrClosed)

	// Joining fails (nobody gossips there): New fails, and stops the log and Raft it
	// had started, so the directory and the port are free again.
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	nobody := gone.Addr().String()
	require.NoError(t, gone.Close())
	nd := c.newNode("agent-2")
	cfg = c.config(nd, nobody)
	nd.rpcAddr = cfg.RPCListener.Addr().String()
	_, err = agent.New(cfg)
	require.ErrorContains(t, err, "join cluster via "+nobody)
	c.start(nd, c.config(nd)) // the same directory and port
	produceAll(t, []*node{nd}, 0, "works")
}

func TestNewRejectsBadConfig(t *testing.T) {
	c := newCluster(t, nil)
	tests := []struct {
		name    string
		change  func(*agent.Config)
		wantErr string
	}{
		{"no node name", func(cfg *agent.Config) { cfg.NodeName = "" }, "NodeName is required"},
		{"no data directory", func(cfg *agent.Config) { cfg.DataDir = "" }, "DataDir is required"},
		{"no bind address", func(cfg *agent.Config) { cfg.BindAddr = "" }, "BindAddr is required"},
		{"no RPC address", func(cfg *agent.Config) {
			require.NoError(t, cfg.RPCListener.Close())
			cfg.RPCListener = nil
		}, "RPCAddr or Config.RPCListener is required"},
		{"no server TLS", func(cfg *agent.Config) { cfg.ServerTLSConfig = nil }, "ServerTLSConfig is required"},
		{"no peer TLS", func(cfg *agent.Config) { cfg.PeerTLSConfig = nil }, "PeerTLSConfig is required"},
		{"no ACL", func(cfg *agent.Config) { cfg.ACLPolicyFile = "" }, "model file and a policy file are required"},
		{"server TLS without client certificates", func(cfg *agent.Config) {
			cfg.ServerTLSConfig = cfg.ServerTLSConfig.Clone()
			cfg.ServerTLSConfig.ClientAuth = tls.NoClientCert
		}, "must require and verify client certificates"},
		{"bad node name", func(cfg *agent.Config) { cfg.NodeName = "agent 0" }, "invalid characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := c.config(c.newNode("agent-0"))
			tt.change(&cfg)
			a, err := agent.New(cfg)
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, a)
			if cfg.RPCListener != nil {
				_, err = cfg.RPCListener.Accept()
				require.ErrorIs(t, err, net.ErrClosed, "the listener is still open")
			}
		})
	}
}
