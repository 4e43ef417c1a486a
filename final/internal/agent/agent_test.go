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
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/agent"
	"golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/storage"
	"golog/internal/testenv"
)

// How long to wait for the cluster to converge (a leader elected, records applied, a
// server added or removed), and how often to look. waitFor is generous for -race on a
// busy 2-core machine; the tests take a second or two each when all is well.
const (
	waitFor = 20 * time.Second
	tick    = 20 * time.Millisecond
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

// fastRaft tunes Raft for the tests: elections within a second instead of seconds, and
// timeouts long enough that a leader does not lose its lease on a busy machine running
// -race (50 ms ones do, and 200 ms ones do when other work shares the two cores).
func fastRaft(c *consensus.RaftConfig) {
	c.HeartbeatTimeout = 400 * time.Millisecond   // default: 1s
	c.ElectionTimeout = 400 * time.Millisecond    // default: 1s
	c.LeaderLeaseTimeout = 400 * time.Millisecond // default: 500ms
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
// cluster when there are no seeds, as golog agent does; then c.configure, if set.
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
	return api.NewLogClient(c.conn(addr, tlsConfig))
}

// conn returns a gRPC connection to the server at addr, with tlsConfig.
func (c *cluster) conn(addr string, tlsConfig *tls.Config) *grpc.ClientConn {
	c.t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	require.NoError(c.t, err)
	c.t.Cleanup(func() { require.NoError(c.t, conn.Close()) })
	return conn
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
	}, waitFor, tick, "no leader among the running servers")
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
		}, waitFor, tick, "the servers %s lists", nd.name)
	}
}

// produce appends value through the leader among nodes and returns its offset. It
// writes as an idempotent producer (the test's name, a new sequence number per value),
// so an answer of "not applied" or "maybe applied" (leadership moved while the record
// was on its way: it happens on a busy machine) is retried safely: a record that was in
// fact appended answers with its first offset instead of being appended twice. Any
// other error fails the test.
func produce(t *testing.T, nodes []*node, value string) uint64 {
	t.Helper()
	req := &api.ProduceRequest{
		Record:     &api.Record{Value: []byte(value)},
		ProducerId: "agent-test/" + t.Name(),
		Sequence:   produceSequence.Add(1),
	}
	deadline := time.Now().Add(waitFor)
	for {
		nd := leader(t, nodes)
		res, err := nd.client.Produce(t.Context(), req)
		if err == nil {
			return res.Offset
		}
		if !retryable(err) || time.Now().After(deadline) {
			t.Fatalf("produce %q on %s: %v", value, nd.name, err)
		}
	}
}

// produceSequence numbers the records produce writes; a producer's numbers must grow.
var produceSequence atomic.Uint64

// retryable reports whether an idempotent produce that failed with err may be sent
// again: its ErrorInfo says it was not applied, or maybe applied.
func retryable(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			applied := info.Metadata[api.MetadataApplied]
			return applied == "no" || applied == "maybe"
		}
	}
	return false
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
	}, waitFor, tick, "the records of %s", nd.name)
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
		require.Equal(t, map[string]string{"leader_id": lead.name, "leader_addr": lead.rpcAddr, "applied": "no"},
			info.Metadata)
	}
	for _, nd := range nodes {
		waitForRecords(t, nd, want...) // the refused writes left no trace
	}

	// The HTTP API has no picker in front of it: a follower forwards the write to the
	// leader, and answers with the leader's offset.
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for _, nd := range append(followers(nodes, lead), lead) {
		value := "via-" + nd.name
		status, body := post(t, client, nd.httpURL, `{"record": {"value": "`+value+`"}}`)
		require.Equal(t, http.StatusOK, status, "POST to %s: %s", nd.name, body)
		require.JSONEq(t, fmt.Sprintf(`{"offset": %d}`, len(want)), body, "POST to %s", nd.name)
		want = append(want, value)
	}
	for _, nd := range nodes {
		waitForRecords(t, nd, want...)
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
	deadline := time.Now().Add(waitFor)
	for i := 0; newestSnapshot(t, leader(t, nodes).dir) <= bound; i++ {
		require.True(t, time.Now().Before(deadline), "no snapshot past index %d after %s", bound, waitFor)
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

// The server that started the cluster joins nobody. Stopped gracefully, it leaves, and
// the others remove it from the Raft configuration at once; restarted with the same
// settings (still no server to join), it finds the others through the members gossip
// kept in its data directory, and is a voter again with every record.
func TestTheFirstServerRejoinsAfterARestart(t *testing.T) {
	c := newCluster(t, nil)
	nodes := c.startN(3)
	first, rest := nodes[0], nodes[1:]
	produceAll(t, nodes, 0, "before")
	c.stop(first)
	waitForServers(t, rest...)
	produceAll(t, rest, 1, "while it was away")

	c.start(first, c.config(first))
	waitForServers(t, nodes...)
	waitForRecords(t, first, "before", "while it was away")
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
		waitFor, tick, "%s never saw %s %s", nd.name, name, status)
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
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		for {
			for name, client := range clients {
				ctx, cancel := context.WithTimeout(t.Context(), waitFor)
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
	require.ErrorIs(t, err, storage.ErrInUse)
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

// A server that crashes and comes back at other addresses (a container rescheduled
// elsewhere) rejoins under its name, with the records it had: gossip takes its new
// address once the old one has been dead for DeadNodeReclaimTime (here, at once), and
// the leader moves it to its new RPC address in the Raft configuration.
func TestAServerRestartedAtNewAddressesRejoins(t *testing.T) {
	c := newCluster(t, nil)
	p := newPartition(t)
	c.configure = func(nd *node, cfg *agent.Config) {
		p.attach(nd, cfg)
		tune := cfg.Tune
		cfg.Tune = func(sc *serf.Config) {
			tune(sc)
			sc.MemberlistConfig.DeadNodeReclaimTime = time.Nanosecond
		}
	}
	nodes := c.startN(3)
	lead := leader(t, nodes)
	moving := followers(nodes, lead)[0]
	produceAll(t, nodes, 0, "before")
	waitForRecords(t, moving, "before")

	// It crashes: the others see it fail, and it never says goodbye.
	p.Cut(moving)
	waitForGossip(t, lead, moving.name, serf.StatusFailed)
	oldAddr := moving.rpcAddr
	c.stop(moving)
	p.Heal(moving)

	moving.rpcAddr = "" // new ports for everything
	c.start(moving, c.config(moving, lead.agent.BindAddr()))
	require.NotEqual(t, oldAddr, moving.rpcAddr)
	waitForServers(t, nodes...)
	produceAll(t, nodes, 1, "after")
	waitForRecords(t, moving, "before", "after")
}

// get reads url and returns the answer's status, Retry-After header and body.
func get(t *testing.T, client *http.Client, url string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header.Get("Retry-After"), string(b)
}

// Over HTTP, as over gRPC: a record written through one follower is read, linearizably,
// through the other at once; with no leader (two of three servers cut off), writes and
// linearizable reads answer 503 with Retry-After and say the write was not applied,
// while a local read still answers from the server's copy; /readyz says what is
// missing.
func TestHTTPOnACluster(t *testing.T) {
	c := newCluster(t, nil)
	p := newPartition(t)
	c.configure = p.attach
	nodes := c.startN(3)
	lead := leader(t, nodes)
	fs := followers(nodes, lead)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	for i := range 5 {
		value := fmt.Sprintf("v%d", i)
		status, body := post(t, client, fs[0].httpURL, `{"record": {"value": "`+value+`"}}`)
		require.Equal(t, http.StatusOK, status, body)
		require.JSONEq(t, fmt.Sprintf(`{"offset": %d}`, i), body)
		status, _, body = get(t, client, fmt.Sprintf("%s/?offset=%d", fs[1].httpURL, i))
		require.Equal(t, http.StatusOK, status, body)
		require.JSONEq(t, fmt.Sprintf(`{"record": {"value": %q, "offset": %d}}`, value, i), body)
	}
	for _, nd := range nodes {
		status, _, body := get(t, client, nd.httpURL+"/readyz")
		require.Equal(t, http.StatusOK, status, "%s: %s", nd.name, body)
	}

	p.Cut(lead)
	p.Cut(fs[0])
	last := fs[1]
	require.Eventually(t, func() bool {
		status, _, _ := get(t, client, last.httpURL+"/readyz")
		return status == http.StatusServiceUnavailable
	}, waitFor, tick, "%s still says it is ready without a leader", last.name)
	status, body := post(t, client, last.httpURL, `{"record": {"value": "lost?"}}`)
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.Contains(t, body, `"applied":"no"`)
	status, retry, body := get(t, client, last.httpURL+"/?offset=0")
	require.Equal(t, http.StatusServiceUnavailable, status, "a linearizable read needs a leader: %s", body)
	require.Equal(t, "1", retry)
	status, _, body = get(t, client, last.httpURL+"/?offset=0&consistency=local")
	require.Equal(t, http.StatusOK, status, body)
	require.JSONEq(t, `{"record": {"value": "v0", "offset": 0}}`, body)
	status, _, body = get(t, client, last.httpURL+"/healthz")
	require.Equal(t, http.StatusOK, status, "the process is up: %s", body)
}

// The gRPC health service says SERVING once a server knows a leader and has caught up,
// and NOT_SERVING while it has no leader; it answers only clients the ACL lets read.
// Reflection lists the API, to the same clients.
func TestHealthAndReflection(t *testing.T) {
	c := newCluster(t, nil)
	p := newPartition(t)
	c.configure = p.attach
	nodes := c.startN(3)
	lead := leader(t, nodes)
	follower := followers(nodes, lead)[0]

	conn := c.conn(follower.rpcAddr, c.rootTLS)
	health := healthpb.NewHealthClient(conn)
	serving := func() healthpb.HealthCheckResponse_ServingStatus {
		res, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "log.v1.Log"})
		if err != nil {
			return healthpb.HealthCheckResponse_UNKNOWN
		}
		return res.Status
	}
	require.Eventually(t, func() bool { return serving() == healthpb.HealthCheckResponse_SERVING }, waitFor, tick)

	p.Cut(lead)
	p.Cut(followers(nodes, lead)[1])
	require.Eventually(t, func() bool { return serving() == healthpb.HealthCheckResponse_NOT_SERVING }, waitFor, tick,
		"a server without a leader says it is not serving")

	refl := reflectionpb.NewServerReflectionClient(conn)
	stream, err := refl.ServerReflectionInfo(t.Context())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}))
	res, err := stream.Recv()
	require.NoError(t, err)
	var services []string
	for _, s := range res.GetListServicesResponse().GetService() {
		services = append(services, s.Name)
	}
	require.Contains(t, services, "log.v1.Log")

	certs := testenv.Certs(t)
	nobodyTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.NobodyClientCertFile, KeyFile: certs.NobodyClientKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	nobody := c.conn(follower.rpcAddr, nobodyTLS)
	_, err = healthpb.NewHealthClient(nobody).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
}
