package cli_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/agent"
	"golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/testenv"
)

// How long to wait for the cluster to converge, and how often to look: generous for
// -race on a busy 2-core machine.
const (
	waitFor = 20 * time.Second
	tick    = 20 * time.Millisecond
)

// fastGossip tunes Serf for a few servers on the loopback interface, as the agent's
// tests do.
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

// fastRaft tunes Raft for the tests: elections in a few hundred milliseconds.
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
	direct  api.LogClient // a connection to this server alone, as root
}

// A cluster is a test's servers: in-process agents on 127.0.0.1 with ports picked at
// run time, mutual TLS and the module's ACL. Those still running when the test ends
// are shut down.
type cluster struct {
	t     testing.TB
	certs testenv.CertFiles
	nodes []*node
}

// newCluster starts n servers, server-0 bootstrapping and the others joining it, with
// configure applied last to each Config; it returns once they all list each other and
// a leader.
func newCluster(t testing.TB, n int, configure func(*agent.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, certs: testenv.Certs(t)}
	label := fmt.Sprintf("%s/%d", t.Name(), os.Getpid())
	model, policy := testenv.ACL(t)
	serverTLS := c.tlsConfig(c.certs.ServerCertFile, c.certs.ServerKeyFile, true)
	peerTLS := c.tlsConfig(c.certs.ServerCertFile, c.certs.ServerKeyFile, false)
	rootTLS := c.tlsConfig(c.certs.RootClientCertFile, c.certs.RootClientKeyFile, false)
	for i := range n {
		nd := &node{name: fmt.Sprintf("server-%d", i)}
		var seeds []string
		if i > 0 {
			seeds = []string{c.nodes[0].agent.BindAddr()}
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		cfg := agent.Config{
			NodeName:        nd.name,
			DataDir:         testenv.TempDir(t),
			BindAddr:        "127.0.0.1:0",
			StartJoinAddrs:  seeds,
			Bootstrap:       i == 0,
			RPCListener:     lis,
			ServerTLSConfig: serverTLS,
			PeerTLSConfig:   peerTLS,
			ACLModelFile:    model,
			ACLPolicyFile:   policy,
			Logger:          testenv.Logger(t),
			Tune: func(sc *serf.Config) {
				fastGossip(sc)
				sc.MemberlistConfig.Label = label
			},
			RaftTune: fastRaft,
		}
		if configure != nil {
			configure(&cfg)
		}
		a, err := agent.New(cfg)
		require.NoError(t, err, "start %s", nd.name)
		t.Cleanup(func() {
			if nd.agent != nil {
				require.NoError(t, a.Shutdown(), "Shutdown %s", nd.name)
			}
		})
		nd.agent, nd.rpcAddr = a, a.RPCAddr()
		conn, err := grpc.NewClient(nd.rpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(rootTLS)))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, conn.Close()) })
		nd.direct = api.NewLogClient(conn)
		c.nodes = append(c.nodes, nd)
	}
	c.waitForServers()
	return c
}

// tlsConfig returns the TLS configuration of a server or of a client with the given
// certificate, trusting the test CA.
func (c *cluster) tlsConfig(certFile, keyFile string, server bool) *tls.Config {
	c.t.Helper()
	cfg, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certFile, KeyFile: keyFile, CAFile: c.certs.CAFile, Server: server,
	})
	require.NoError(c.t, err)
	return cfg
}

// stop shuts nd down.
func (c *cluster) stop(nd *node) {
	c.t.Helper()
	require.NoError(c.t, nd.agent.Shutdown(), "Shutdown %s", nd.name)
	nd.agent, nd.direct = nil, nil
}

// running returns the servers that are running.
func (c *cluster) running() []*node {
	return slices.DeleteFunc(slices.Clone(c.nodes), func(nd *node) bool { return nd.agent == nil })
}

// waitForServers waits until every running server lists exactly the running servers,
// one of them the leader.
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

// leader returns the running server that says it leads.
func (c *cluster) leader() *node {
	c.t.Helper()
	var found *node
	require.Eventually(c.t, func() bool {
		for _, nd := range c.running() {
			res, err := nd.direct.GetServers(c.t.Context(), &api.GetServersRequest{})
			if err == nil && slices.ContainsFunc(res.Servers, func(s *api.Server) bool { return s.IsLeader && s.Id == nd.name }) {
				found = nd
				return true
			}
		}
		return false
	}, waitFor, tick, "no leader among the running servers")
	return found
}

// waitForRecords waits until every running server holds exactly want, want[i] at
// offset i.
func (c *cluster) waitForRecords(want []string) {
	c.t.Helper()
	for _, nd := range c.running() {
		require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
			var got []string
			for off := uint64(0); ; off++ {
				res, err := nd.direct.Consume(c.t.Context(), &api.ConsumeRequest{Offset: off, Consistency: api.Consistency_CONSISTENCY_LOCAL})
				if status.Code(err) == codes.OutOfRange {
					break
				}
				require.NoError(ct, err)
				got = append(got, string(res.Record.Value))
			}
			require.Equal(ct, want, got)
		}, waitFor, tick, "the records of %s", nd.name)
	}
}
