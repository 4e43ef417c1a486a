package agent_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
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
	"golog/internal/log"
	"golog/internal/testenv"
)

// fastGossip tunes Serf for a few servers on the loopback interface: joins and leaves
// spread in milliseconds, and Shutdown's graceful leave takes a fraction of a second.
// The failure detector keeps timers loose enough that a live server under -race is
// never taken for dead.
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
}

// cluster makes the configs of a test's agents, which share certificates, ACL and
// gossip label, starts agents and shuts them down when the test ends.
type cluster struct {
	t         *testing.T
	serverTLS *tls.Config
	peerTLS   *tls.Config // root: the agents replicate with it, and the test's clients use it
	model     string
	policy    string
	label     string // keeps this test's gossip apart from other tests' on the machine
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, label: fmt.Sprintf("%s/%d", t.Name(), os.Getpid())}
	certs := testenv.Certs(t)
	var err error
	c.serverTLS, err = config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	c.peerTLS, err = config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	c.model, c.policy = testenv.ACL(t)
	return c
}

// config returns the Config of an agent called name, storing its log in dataDir,
// serving gRPC on rpcAddr (a free port if empty), gossiping on a free port, and
// joining through seeds.
func (c *cluster) config(name, dataDir, rpcAddr string, seeds ...string) agent.Config {
	c.t.Helper()
	if rpcAddr == "" {
		rpcAddr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", rpcAddr)
	require.NoError(c.t, err)
	return agent.Config{
		NodeName:        name,
		DataDir:         dataDir,
		BindAddr:        "127.0.0.1:0",
		StartJoinAddrs:  seeds,
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
	}
}

// start starts an agent with cfg, and shuts it down when the test ends.
func (c *cluster) start(cfg agent.Config) *agent.Agent {
	c.t.Helper()
	a, err := agent.New(cfg)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { require.NoError(c.t, a.Shutdown(), "Shutdown %s", cfg.NodeName) })
	return a
}

// startN starts agents "agent-0" … "agent-(n-1)"; all but the first join through the
// first.
func (c *cluster) startN(n int) []*agent.Agent {
	c.t.Helper()
	var agents []*agent.Agent
	var seeds []string
	for i := range n {
		a := c.start(c.config(fmt.Sprintf("agent-%d", i), testenv.TempDir(c.t), "", seeds...))
		agents = append(agents, a)
		seeds = []string{agents[0].BindAddr()}
	}
	return agents
}

// client returns a gRPC client of a, connected as root.
func (c *cluster) client(a *agent.Agent) api.LogClient {
	c.t.Helper()
	conn, err := grpc.NewClient(a.RPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(c.peerTLS)))
	require.NoError(c.t, err)
	c.t.Cleanup(func() { require.NoError(c.t, conn.Close()) })
	return api.NewLogClient(conn)
}

// produce produces value through client and returns its offset.
func produce(t *testing.T, client api.LogClient, value string) uint64 {
	t.Helper()
	res, err := client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte(value)}})
	require.NoError(t, err)
	return res.Offset
}

// contents returns every record a server holds, in offset order, as "origin/value",
// read with Consume until OUT_OF_RANGE.
func contents(ctx context.Context, client api.LogClient) ([]string, error) {
	var got []string
	for off := uint64(0); ; off++ {
		res, err := client.Consume(ctx, &api.ConsumeRequest{Offset: off})
		if status.Code(err) == codes.OutOfRange {
			return got, nil
		}
		if err != nil {
			return nil, err
		}
		got = append(got, res.Record.Origin+"/"+string(res.Record.Value))
	}
}

// requireContents checks that the server holds exactly want, in this order.
func requireContents(t *testing.T, client api.LogClient, want ...string) {
	t.Helper()
	got, err := contents(t.Context(), client)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// waitForContents waits until the server holds exactly want, in any order.
func waitForContents(t *testing.T, client api.LogClient, want ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := contents(t.Context(), client)
		require.NoError(c, err)
		require.ElementsMatch(c, want, got)
	}, testenv.WaitFor, testenv.Tick)
}

func TestRecordsReachEveryAgentOnce(t *testing.T) {
	c := newCluster(t)
	agents := c.startN(3)
	clients := make([]api.LogClient, len(agents))
	for i, a := range agents {
		clients[i] = c.client(a)
	}

	produce(t, clients[0], "first")
	for i := range agents {
		waitForContents(t, clients[i], "agent-0/first")
	}
	produce(t, clients[2], "second")
	for i := range agents {
		waitForContents(t, clients[i], "agent-0/first", "agent-2/second")
	}

	// No record travels on: agent-1 does not copy agent-0's record from agent-2, nor
	// does agent-0 get its own record back. To know that no such copy is still on its
	// way, each agent produces one more record. Each peer's records are copied in the
	// order of the peer's log, so once the last ones have arrived everywhere, whatever
	// was before them in any log has been dealt with.
	for i, client := range clients {
		produce(t, client, fmt.Sprintf("last-%d", i))
	}
	for i := range agents {
		waitForContents(t, clients[i], "agent-0/first", "agent-2/second",
			"agent-0/last-0", "agent-1/last-1", "agent-2/last-2")
	}
}

func TestTheServerNamesTheOrigin(t *testing.T) {
	c := newCluster(t)
	cfg := c.config("agent-0", testenv.TempDir(t), "")
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.HTTPListener = httpLn
	a := c.start(cfg)
	require.Equal(t, httpLn.Addr().String(), a.HTTPAddr())
	client := c.client(a)

	// A client cannot pass its record off as produced elsewhere.
	_, err = client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("grpc"), Origin: "agent-9"}})
	require.NoError(t, err)
	// Records produced over HTTP are stamped too.
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+a.HTTPAddr(),
		strings.NewReader(`{"record": {"value": "http"}}`))
	require.NoError(t, err)
	res, err := (&http.Client{Transport: transport}).Do(req)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusOK, res.StatusCode)

	requireContents(t, client, "agent-0/grpc", "agent-0/http")
}

func TestShutdownReleasesPortsAndFiles(t *testing.T) {
	c := newCluster(t)
	dataDir := testenv.TempDir(t)
	first, err := agent.New(c.config("agent-0", dataDir, ""))
	require.NoError(t, err)
	produce(t, c.client(first), "kept")
	rpcAddr, bindAddr := first.RPCAddr(), first.BindAddr()

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

	// The same directory, the same gRPC port and the same gossip port.
	cfg := c.config("agent-0", dataDir, rpcAddr)
	cfg.BindAddr = bindAddr
	second := c.start(cfg)
	require.Equal(t, rpcAddr, second.RPCAddr())
	require.Equal(t, bindAddr, second.BindAddr())
	requireContents(t, c.client(second), "agent-0/kept")
}

func TestNewCleansUpWhenAStepFails(t *testing.T) {
	c := newCluster(t)
	dataDir := testenv.TempDir(t)
	c.start(c.config("agent-0", dataDir, ""))

	// The data directory is in use: New fails after listening, and closes the listener.
	cfg := c.config("agent-1", dataDir, "")
	_, err := agent.New(cfg)
	require.ErrorIs(t, err, log.ErrInUse)
	_, err = cfg.RPCListener.Accept()
	require.ErrorIs(t, err, net.ErrClosed)

	// Joining fails (nobody gossips there): New fails last, and stops the log and the
	// gRPC server it had started, so the directory and the port are free again.
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	nobody := gone.Addr().String()
	require.NoError(t, gone.Close())
	freshDir := testenv.TempDir(t)
	cfg = c.config("agent-2", freshDir, "", nobody)
	rpcAddr := cfg.RPCListener.Addr().String()
	_, err = agent.New(cfg)
	require.ErrorContains(t, err, "join cluster via "+nobody)
	l, err := log.NewLog(freshDir, log.Config{})
	require.NoError(t, err, "the failed agent left its log open")
	require.NoError(t, l.Close())
	lis, err := net.Listen("tcp", rpcAddr)
	require.NoError(t, err, "the failed agent left its gRPC port open")
	require.NoError(t, lis.Close())
}

func TestNewRejectsBadConfig(t *testing.T) {
	c := newCluster(t)
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
			cfg := c.config("agent-0", testenv.TempDir(t), "")
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
