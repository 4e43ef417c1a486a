package client_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	api "golog/api/v1"
	"golog/client"
	"golog/internal/agent"
	"golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/testenv"
)

// How long to wait for the cluster to converge (a leader elected, records applied, a
// server added), and how often to look: generous for -race on a busy 2-core machine.
const (
	waitFor = 20 * time.Second
	tick    = 20 * time.Millisecond
)

// fastGossip tunes Serf for a few servers on the loopback interface (as the agent's
// tests do): joins and leaves spread in milliseconds, and a live server under -race is
// never taken for dead.
func fastGossip(c *serf.Config) {
	ml := c.MemberlistConfig
	ml.GossipInterval = 10 * time.Millisecond
	ml.ProbeInterval = 100 * time.Millisecond
	ml.ProbeTimeout = 50 * time.Millisecond
	ml.TCPTimeout = 500 * time.Millisecond
	ml.SuspicionMult = 10
	ml.SuspicionMaxTimeoutMult = 1
	c.LeavePropagateDelay = 50 * time.Millisecond
	c.BroadcastTimeout = time.Second
	c.ReconnectInterval = 200 * time.Millisecond
}

// fastRaft tunes Raft for the tests: elections in a few hundred milliseconds, with
// timeouts long enough that a leader keeps its lease on a busy machine.
func fastRaft(c *consensus.RaftConfig) {
	c.HeartbeatTimeout = 200 * time.Millisecond
	c.ElectionTimeout = 200 * time.Millisecond
	c.LeaderLeaseTimeout = 200 * time.Millisecond
	c.CommitTimeout = 10 * time.Millisecond
}

// A node is one server of a test cluster; agent and direct are nil while it is stopped.
type node struct {
	name    string
	rpcAddr string
	agent   *agent.Agent
	direct  api.LogClient // a plain connection to this server alone, as root
}

// A cluster is a test's servers, in-process agents on 127.0.0.1 with ports picked at
// run time, mutual TLS and the module's ACL. Servers still running when the test ends
// are shut down.
type cluster struct {
	t         *testing.T
	certs     testenv.CertFiles
	serverTLS *tls.Config
	peerTLS   *tls.Config // the server certificate as a client: the agents speak Raft with it
	rootTLS   *tls.Config
	model     string
	policy    string
	label     string // keeps this test's gossip apart from other tests'
	configure []func(*agent.Config)
	nodes     []*node
}

// newCluster starts n servers: "server-0" bootstraps, the others join through it. It
// returns once every server lists every other, with a leader among them. configure, if
// set, changes each server's Config last.
func newCluster(t *testing.T, n int, configure ...func(*agent.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, certs: testenv.Certs(t), label: fmt.Sprintf("%s/%d", t.Name(), os.Getpid()), configure: configure}
	c.serverTLS = c.tlsConfig(c.certs.ServerCertFile, c.certs.ServerKeyFile, true)
	c.peerTLS = c.tlsConfig(c.certs.ServerCertFile, c.certs.ServerKeyFile, false)
	c.rootTLS = c.tlsConfig(c.certs.RootClientCertFile, c.certs.RootClientKeyFile, false)
	c.model, c.policy = testenv.ACL(t)
	for range n {
		c.add()
	}
	c.waitForServers()
	return c
}

// tlsConfig returns the TLS configuration of a server (server set) or of a client with
// the given certificate (none if certFile is empty), trusting the cluster's CA.
func (c *cluster) tlsConfig(certFile, keyFile string, server bool) *tls.Config {
	c.t.Helper()
	return c.tlsConfigWithCA(certFile, keyFile, c.certs.CAFile, server)
}

// tlsConfigWithCA is tlsConfig trusting the CA in caFile.
func (c *cluster) tlsConfigWithCA(certFile, keyFile, caFile string, server bool) *tls.Config {
	c.t.Helper()
	cfg, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certFile, KeyFile: keyFile, CAFile: caFile, Server: server,
	})
	require.NoError(c.t, err)
	return cfg
}

// add starts a new server, "server-N", which bootstraps the cluster if it is the first
// and otherwise joins it through a running server's gossip address.
func (c *cluster) add() *node {
	c.t.Helper()
	nd := &node{name: fmt.Sprintf("server-%d", len(c.nodes))}
	var seeds []string
	if running := c.running(); len(running) > 0 {
		seeds = []string{running[0].agent.BindAddr()}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(c.t, err)
	cfg := agent.Config{
		NodeName:        nd.name,
		DataDir:         testenv.TempDir(c.t),
		BindAddr:        "127.0.0.1:0",
		StartJoinAddrs:  seeds,
		Bootstrap:       len(seeds) == 0,
		RPCListener:     lis,
		ServerTLSConfig: c.serverTLS,
		PeerTLSConfig:   c.peerTLS,
		ACLModelFile:    c.model,
		ACLPolicyFile:   c.policy,
		Logger:          testenv.Logger(c.t),
		Tune: func(sc *serf.Config) {
			fastGossip(sc)
			sc.MemberlistConfig.Label = c.label
		},
		RaftTune: fastRaft,
	}
	for _, f := range c.configure {
		f(&cfg)
	}
	a, err := agent.New(cfg)
	require.NoError(c.t, err, "start %s", nd.name)
	c.t.Cleanup(func() { require.NoError(c.t, a.Shutdown(), "Shutdown %s", nd.name) })
	nd.agent, nd.rpcAddr = a, a.RPCAddr()
	conn, err := grpc.NewClient(nd.rpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(c.rootTLS)))
	require.NoError(c.t, err)
	c.t.Cleanup(func() { require.NoError(c.t, conn.Close()) })
	nd.direct = api.NewLogClient(conn)
	c.nodes = append(c.nodes, nd)
	return nd
}

// stop shuts nd down: it hands over its leadership if it leads, and leaves.
func (c *cluster) stop(nd *node) {
	c.t.Helper()
	require.NoError(c.t, nd.agent.Shutdown(), "Shutdown %s", nd.name)
	nd.agent, nd.direct = nil, nil
}

// running returns the servers that are running.
func (c *cluster) running() []*node {
	return slices.DeleteFunc(slices.Clone(c.nodes), func(nd *node) bool { return nd.agent == nil })
}

// byAddr returns the server at addr, or nil.
func (c *cluster) byAddr(addr string) *node {
	for _, nd := range c.nodes {
		if nd.rpcAddr == addr {
			return nd
		}
	}
	return nil
}

// waitForServers waits until every running server lists exactly the running servers
// in its Raft configuration, one of them the leader.
func (c *cluster) waitForServers() {
	c.t.Helper()
	want := map[string]string{}
	for _, nd := range c.running() {
		want[nd.name] = nd.rpcAddr
	}
	for _, nd := range c.running() {
		require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
			res, err := nd.direct.GetServers(c.t.Context(), &api.GetServersRequest{})
			require.NoError(ct, err)
			got := map[string]string{}
			leaders := 0
			for _, s := range res.Servers {
				got[s.Id] = s.RpcAddr
				if s.IsLeader {
					leaders++
				}
			}
			require.Equal(ct, want, got)
			require.Equal(ct, 1, leaders, "servers marked as leader")
		}, waitFor, tick, "the servers %s lists", nd.name)
	}
}

// leader waits until a running server says it leads, and returns it.
func (c *cluster) leader() *node {
	c.t.Helper()
	var found *node
	require.Eventually(c.t, func() bool {
		for _, nd := range c.running() {
			res, err := nd.direct.GetServers(c.t.Context(), &api.GetServersRequest{})
			if err != nil {
				continue
			}
			if slices.ContainsFunc(res.Servers, func(s *api.Server) bool { return s.IsLeader && s.Id == nd.name }) {
				found = nd
				return true
			}
		}
		return false
	}, waitFor, tick, "no leader among the running servers")
	return found
}

// followers returns the running servers other than lead.
func (c *cluster) followers(lead *node) []*node {
	return slices.DeleteFunc(c.running(), func(nd *node) bool { return nd == lead })
}

// clientConfig returns a Config for a client of the cluster as root, seeded with the
// addresses of seeds (every running server if none), that polls for the servers every
// 100ms and records which server served each call in rec (if not nil).
func (c *cluster) clientConfig(rec *recorder, seeds ...*node) client.Config {
	if len(seeds) == 0 {
		seeds = c.running()
	}
	cfg := client.Config{
		TLS:             c.rootTLS,
		RefreshInterval: 100 * time.Millisecond,
		Logger:          testenv.Logger(c.t),
	}
	for _, nd := range seeds {
		cfg.Addrs = append(cfg.Addrs, nd.rpcAddr)
	}
	if rec != nil {
		cfg.DialOptions = rec.dialOptions()
	}
	return cfg
}

// newClient returns a client made with cfg, closed when the test ends.
func (c *cluster) newClient(cfg client.Config) *client.Client {
	c.t.Helper()
	cl, err := client.New(c.t.Context(), cfg)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { require.NoError(c.t, cl.Close()) })
	return cl
}

// records returns the values nd holds, by offset, from 0 to its end, read locally.
func records(ctx context.Context, nd *node) ([]string, error) {
	st, err := nd.direct.GetStatus(ctx, &api.GetStatusRequest{})
	if err != nil {
		return nil, err
	}
	var values []string
	if st.NextOffset == 0 {
		return values, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream
	stream, err := nd.direct.ConsumeStream(ctx,
		&api.ConsumeRequest{Offset: 0, Consistency: api.Consistency_CONSISTENCY_LOCAL, Batch: 256})
	if err != nil {
		return nil, err
	}
	for uint64(len(values)) < st.NextOffset {
		res, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		for _, rec := range res.Records {
			if rec.Offset != uint64(len(values)) {
				return nil, fmt.Errorf("%s: record at offset %d where %d was due", nd.name, rec.Offset, len(values))
			}
			values = append(values, string(rec.Value))
		}
	}
	return values, nil
}

// waitForRecords waits until every running server holds exactly want, want[i] at
// offset i: followers apply what the leader acknowledged a moment later.
func (c *cluster) waitForRecords(want []string) {
	c.t.Helper()
	for _, nd := range c.running() {
		require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
			got, err := records(c.t.Context(), nd)
			require.NoError(ct, err)
			require.Equal(ct, want, got)
		}, waitFor, tick, "the records of %s", nd.name)
	}
}

// A recorder counts, per gRPC method, the calls each server answered, as gRPC itself
// reports the connection's peer: a witness of where the client's picker sent them.
type recorder struct {
	mu    sync.Mutex
	calls map[string]map[string]int // method, server address → calls
}

func newRecorder() *recorder { return &recorder{calls: map[string]map[string]int{}} }

func (r *recorder) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
			invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			var p peer.Peer
			err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...)
			if p.Addr != nil {
				r.count(method, p.Addr.String())
			}
			return err
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
			streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return &recordedStream{ClientStream: s, r: r, method: method}, nil
		}),
	}
}

// recordedStream counts its stream once, when the first message arrives.
type recordedStream struct {
	grpc.ClientStream
	r       *recorder
	method  string
	counted bool
}

func (s *recordedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if !s.counted && err == nil {
		s.counted = true
		if p, ok := peer.FromContext(s.Context()); ok {
			s.r.count(s.method, p.Addr.String())
		}
	}
	return err
}

func (r *recorder) count(method, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls[method] == nil {
		r.calls[method] = map[string]int{}
	}
	r.calls[method][addr]++
}

// served returns how many calls of method each server answered.
func (r *recorder) served(method string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.calls[method])
}

// reset forgets every call counted so far.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = map[string]map[string]int{}
}
