// The tour of chapter 06: three servers find each other by gossip and copy each
// other's records.
//
//	go test -v -debug=true
package golog_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/agent"
	"golog/internal/config"
	"golog/internal/testenv"
)

func TestTour(t *testing.T) {
	certs := testenv.Certs(t)
	serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	rootTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	model, policy := testenv.ACL(t)
	label := fmt.Sprintf("%s/%d", t.Name(), os.Getpid())

	t.Log("three servers; each serves its log over gRPC and gossips with the others (Serf)")
	names := []string{"a", "b", "c"}
	servers := make([]*agent.Agent, len(names))
	clients := make([]api.LogClient, len(names))
	for i, name := range names {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var seeds []string
		if i > 0 {
			seeds = []string{servers[0].BindAddr()}
		}
		a, err := agent.New(agent.Config{
			NodeName:        name,
			DataDir:         testenv.TempDir(t),
			BindAddr:        "127.0.0.1:0",
			StartJoinAddrs:  seeds,
			RPCListener:     lis,
			ServerTLSConfig: serverTLS,
			PeerTLSConfig:   rootTLS, // a server copies the others' records as their client root
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
		})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, a.Shutdown()) })
		servers[i] = a
		t.Logf("server %s: gRPC on %s, gossip on %s, joined through %v", name, a.RPCAddr(), a.BindAddr(), seeds)

		conn, err := grpc.NewClient(a.RPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(rootTLS)))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, conn.Close()) })
		clients[i] = api.NewLogClient(conn)
	}

	t.Log("a and c each accept a record at the same moment: every server takes writes")
	writes := []struct {
		server int
		value  string
		res    *api.ProduceResponse
		err    error
	}{{server: 0, value: "AA"}, {server: 2, value: "BB"}}
	var wg sync.WaitGroup
	for i := range writes {
		w := &writes[i]
		wg.Go(func() {
			w.res, w.err = clients[w.server].Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte(w.value)}})
		})
	}
	wg.Wait()
	for _, w := range writes {
		require.NoError(t, w.err)
		t.Logf("%s: Produce(%s) -> offset %d; %s is its origin", names[w.server], w.value, w.res.Offset, names[w.server])
	}

	t.Log("each server copies from each other server the records produced there")
	want := map[string]bool{"a/AA": true, "c/BB": true}
	firsts := make(map[string]bool) // the record each server holds at offset 0
	for i, name := range names {
		var got []*api.Record
		require.Eventually(t, func() bool {
			var err error
			got, err = readAll(t.Context(), clients[i])
			return err == nil && len(got) == len(want) &&
				want[key(got[0])] && want[key(got[1])] && key(got[0]) != key(got[1])
		}, 10*time.Second, 10*time.Millisecond, "server %s never held AA and BB", name)
		for _, r := range got {
			t.Logf("%s: offset %d: %s (origin %s)", name, r.Offset, r.Value, r.Origin)
		}
		firsts[key(got[0])] = true
	}
	t.Log("every server holds both records, once: only records produced on a server are copied from it, so copies are not copied on")
	if len(firsts) > 1 {
		t.Log("the servers disagree on the offsets: each numbers records in the order they reached it")
	} else {
		t.Log("the servers agree on the offsets this time, by luck of timing: each numbers records in the order they reached it")
	}
}

// readAll returns the records a server holds, read with Consume until OUT_OF_RANGE.
func readAll(ctx context.Context, client api.LogClient) ([]*api.Record, error) {
	var records []*api.Record
	for off := uint64(0); ; off++ {
		res, err := client.Consume(ctx, &api.ConsumeRequest{Offset: off})
		if status.Code(err) == codes.OutOfRange {
			return records, nil
		}
		if err != nil {
			return nil, err
		}
		records = append(records, res.Record)
	}
}

// key is "origin/value".
func key(r *api.Record) string { return r.Origin + "/" + string(r.Value) }
