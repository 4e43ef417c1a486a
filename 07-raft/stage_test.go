// The tour of chapter 07: three servers keep one log with Raft. One of them, the
// leader, takes every write; each server holds the same records at the same offsets;
// when the leader goes, another takes over.
//
//	go test -v -debug=true
package golog_test

import (
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
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
	"golog/internal/testenv"
)

func TestTour(t *testing.T) {
	certs := testenv.Certs(t)
	serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	peerTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	rootTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	model, policy := testenv.ACL(t)
	label := fmt.Sprintf("%s/%d", t.Name(), os.Getpid())

	t.Log("three servers; a starts a new cluster (Bootstrap), b and c join it through gossip")
	t.Log("each serves gRPC and Raft on one port, and gossips on another")
	names := []string{"a", "b", "c"}
	servers := map[string]*agent.Agent{}
	clients := map[string]api.LogClient{}
	for i, name := range names {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var seeds []string
		if i > 0 {
			seeds = []string{servers["a"].BindAddr()}
		}
		a, err := agent.New(agent.Config{
			NodeName:        name,
			DataDir:         testenv.TempDir(t),
			BindAddr:        "127.0.0.1:0",
			StartJoinAddrs:  seeds,
			Bootstrap:       len(seeds) == 0,
			RPCListener:     lis,
			ServerTLSConfig: serverTLS,
			PeerTLSConfig:   peerTLS, // servers speak Raft with the server certificate
			ACLModelFile:    model,
			ACLPolicyFile:   policy,
			Logger:          testenv.Logger(t),
			Tune: func(c *serf.Config) {
				// Gossip every 10ms and leave within a fraction of a second; keep
				// this test's gossip apart from other tests' on the machine.
				c.MemberlistConfig.GossipInterval = 10 * time.Millisecond
				c.LeavePropagateDelay = 50 * time.Millisecond
				c.MemberlistConfig.Label = label
			},
			RaftTune: func(c *consensus.RaftConfig) {
				// Elections in a few hundred milliseconds rather than seconds.
				c.HeartbeatTimeout = 200 * time.Millisecond
				c.ElectionTimeout = 200 * time.Millisecond
				c.LeaderLeaseTimeout = 200 * time.Millisecond
			},
		})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, a.Shutdown()) })
		servers[name] = a
		t.Logf("server %s: gRPC and Raft on %s, gossip on %s, joined through %v", name, a.RPCAddr(), a.BindAddr(), seeds)

		conn, err := grpc.NewClient(a.RPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(rootTLS)))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, conn.Close()) })
		clients[name] = api.NewLogClient(conn)
	}

	t.Log("the leader (a: it started the cluster) adds b and c as voters as gossip tells it of them")
	leader := waitForCluster(t, clients["a"], names)
	t.Logf("%s leads in term %d: each election starts a new term", leader, servers[leader].Term())

	res, err := clients[leader].Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("AA")}})
	require.NoError(t, err)
	t.Logf("%s: Produce(AA) -> offset %d, once a majority of the servers has it on disk", leader, res.Offset)
	for _, name := range names {
		readAt(t, clients[name], name, res.Offset, "AA")
	}

	follower := names[(slices.Index(names, leader)+1)%len(names)]
	_, err = clients[follower].Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("BB")}})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "produce on a follower: %v", err)
	t.Logf("%s: Produce(BB) -> %s: %s", follower, status.Code(err), status.Convert(err).Message())
	details := status.Convert(err).Details()
	require.Len(t, details, 1)
	info, ok := details[0].(*errdetails.ErrorInfo)
	require.True(t, ok, "the detail is a %T", details[0])
	require.Equal(t, servers[leader].RPCAddr(), info.Metadata["leader_addr"])
	t.Logf("   ErrorInfo %s: %v, so a client knows where to send it", info.Reason, info.Metadata)

	t.Logf("%s shuts down: it leaves the configuration, and the other two elect a new leader", leader)
	require.NoError(t, servers[leader].Shutdown())
	survivors := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == leader })
	next := waitForCluster(t, clients[follower], survivors)
	t.Logf("%s leads now, in term %d", next, servers[next].Term())

	res, err = clients[next].Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("BB")}})
	require.NoError(t, err)
	t.Logf("%s: Produce(BB) -> offset %d: offsets go on where the old leader stopped", next, res.Offset)
	for _, name := range survivors {
		readAt(t, clients[name], name, 0, "AA")
		readAt(t, clients[name], name, res.Offset, "BB")
	}
}

// waitForCluster waits until client's server lists exactly the servers names, one of
// them the leader, logs the list and returns the leader's name.
func waitForCluster(t *testing.T, client api.LogClient, names []string) string {
	t.Helper()
	var servers []*api.Server
	require.Eventually(t, func() bool {
		res, err := client.GetServers(t.Context(), &api.GetServersRequest{})
		if err != nil || len(res.Servers) != len(names) {
			return false
		}
		servers = res.Servers
		return slices.ContainsFunc(servers, func(s *api.Server) bool { return s.IsLeader })
	}, testenv.WaitFor, testenv.Tick, "the cluster never became %v with a leader", names)
	leader := ""
	for _, s := range servers {
		require.Contains(t, names, s.Id)
		t.Logf("   GetServers: %s at %s, leader: %v", s.Id, s.RpcAddr, s.IsLeader)
		if s.IsLeader {
			leader = s.Id
		}
	}
	return leader
}

// readAt waits until the server name holds value at offset (a follower applies a record
// a moment after the leader has acknowledged it), and logs it.
func readAt(t *testing.T, client api.LogClient, name string, offset uint64, value string) {
	t.Helper()
	require.Eventually(t, func() bool {
		res, err := client.Consume(t.Context(), &api.ConsumeRequest{Offset: offset})
		return err == nil && string(res.Record.Value) == value
	}, testenv.WaitFor, testenv.Tick, "%s never held %s at offset %d", name, value, offset)
	t.Logf("%s: Consume(%d) -> %s", name, offset, value)
}
