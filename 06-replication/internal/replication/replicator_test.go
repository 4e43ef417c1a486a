package replication_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"golog/internal/auth"
	"golog/internal/config"
	"golog/internal/log"
	"golog/internal/replication"
	"golog/internal/server"
	"golog/internal/testenv"
)

// newLog returns an empty log that is closed when the test ends.
func newLog(t *testing.T) *log.Log {
	t.Helper()
	l, err := log.NewLog(testenv.TempDir(t), log.Config{Logger: testenv.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

// serve serves l over gRPC on lis, with mutual TLS and the stage's ACL, as a peer's
// server does. The returned function stops the server: its ConsumeStreams end at once.
// The test's cleanup calls it too.
func serve(t *testing.T, l *log.Log, lis net.Listener) (stop func()) {
	t.Helper()
	certs := testenv.Certs(t)
	serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	acl, err := auth.New(testenv.ACL(t))
	require.NoError(t, err)
	srv, err := server.NewGRPCServer(server.GRPCConfig{Log: l, TLS: serverTLS, Authorizer: acl, Logger: testenv.Logger(t)})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	stop = sync.OnceFunc(func() {
		testenv.Within(t, "Shutdown", func() error {
			return errors.Join(srv.Shutdown(context.Background()), <-served)
		})
	})
	t.Cleanup(stop)
	return stop
}

// listen listens on a free port of 127.0.0.1, or on addr if it is given (to restart a
// server at the address it had).
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	return lis
}

// startPeer returns a new log served over gRPC, the server's address and the function
// that stops the server.
func startPeer(t *testing.T) (*log.Log, string, func()) {
	t.Helper()
	l := newLog(t)
	lis := listen(t, "")
	stop := serve(t, l, lis)
	return l, lis.Addr().String(), stop
}

// newReplicator returns a Replicator that appends to local and dials its peers as
// root, the way a server does. It is closed when the test ends.
func newReplicator(t *testing.T, local replication.LocalLog) *replication.Replicator {
	t.Helper()
	certs := testenv.Certs(t)
	rootTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	r, err := replication.New(replication.Config{
		Log:         local,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(rootTLS))},
		Logger:      testenv.Logger(t),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

// produce appends records with the given values to l as if they had been produced on
// the server called origin.
func produce(t *testing.T, l *log.Log, origin string, values ...string) {
	t.Helper()
	for _, v := range values {
		_, err := l.Append(&log.Record{Value: []byte(v), Origin: origin})
		require.NoError(t, err)
	}
}

// contents returns every record of l, in order, as "origin/value".
func contents(l *log.Log) ([]string, error) {
	var got []string
	for off := l.LowestOffset(); off < l.NextOffset(); off++ {
		r, err := l.Read(off)
		if err != nil {
			return nil, err
		}
		got = append(got, r.Origin+"/"+string(r.Value))
	}
	return got, nil
}

// requireContents checks that l holds exactly want, in this order.
func requireContents(t *testing.T, l *log.Log, want ...string) {
	t.Helper()
	got, err := contents(l)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// waitForContents waits until l holds exactly want, in this order.
func waitForContents(t *testing.T, l *log.Log, want ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := contents(l)
		require.NoError(c, err)
		require.Equal(c, want, got)
	}, testenv.WaitFor, testenv.Tick)
}

func TestJoinCopiesOnlyWhatWasProducedOnThePeer(t *testing.T) {
	local := newLog(t)
	peer, addr, _ := startPeer(t)
	// The peer b holds its own records, and copies of records produced elsewhere:
	// on c, on this server a, and one from before records had an origin.
	produce(t, peer, "b", "b1")
	produce(t, peer, "c", "c1")
	produce(t, peer, "a", "a1")
	produce(t, peer, "", "old")
	produce(t, peer, "b", "b2")

	r := newReplicator(t, local)
	require.NoError(t, r.Join("b", addr))
	waitForContents(t, local, "b/b1", "b/b2")

	// The stream stays open: what b produces later is copied too.
	produce(t, peer, "b", "b3")
	waitForContents(t, local, "b/b1", "b/b2", "b/b3")
}

func TestLeaveStopsAndJoinGoesOn(t *testing.T) {
	local := newLog(t)
	peer, addr, _ := startPeer(t)
	produce(t, peer, "b", "b1")
	r := newReplicator(t, local)
	require.NoError(t, r.Join("b", addr))
	waitForContents(t, local, "b/b1")

	require.NoError(t, r.Leave("b"))
	produce(t, peer, "b", "b2")
	// Leave has waited for the copying to stop: b2 cannot arrive any more.
	requireContents(t, local, "b/b1")
	require.NoError(t, r.Leave("b"), "second Leave")
	require.NoError(t, r.Leave("nobody-knows"), "Leave of a stranger")

	// b comes back: replication goes on after b1, which is not copied again.
	require.NoError(t, r.Join("b", addr))
	waitForContents(t, local, "b/b1", "b/b2")
	// The same Join again changes nothing.
	require.NoError(t, r.Join("b", addr))
	produce(t, peer, "b", "b3")
	waitForContents(t, local, "b/b1", "b/b2", "b/b3")
}

func TestCloseStopsEveryPeer(t *testing.T) {
	local := newLog(t)
	b, bAddr, _ := startPeer(t)
	c, cAddr, _ := startPeer(t)
	produce(t, b, "b", "b1")
	produce(t, c, "c", "c1")
	r := newReplicator(t, local)
	require.NoError(t, r.Join("b", bAddr))
	require.NoError(t, r.Join("c", cAddr))
	require.Eventually(t, func() bool { return local.NextOffset() == 2 }, testenv.WaitFor, testenv.Tick)

	require.NoError(t, r.Close())
	produce(t, b, "b", "b2")
	produce(t, c, "c", "c2")
	require.Equal(t, uint64(2), local.NextOffset(), "a record was copied after Close")

	require.ErrorIs(t, r.Join("d", bAddr), replication.ErrClosed)
	require.NoError(t, r.Leave("b"))
	require.NoError(t, r.Close(), "second Close")
}

func TestReplicationSurvivesAPeerRestart(t *testing.T) {
	local := newLog(t)
	peer, addr, stop := startPeer(t)
	produce(t, peer, "b", "b1")
	r := newReplicator(t, local)
	require.NoError(t, r.Join("b", addr))
	waitForContents(t, local, "b/b1")

	// The peer's server stops (its stream ends) and comes back at the same address,
	// with a record written meanwhile. The Replicator retries until it can reconnect,
	// and goes on after b1.
	stop()
	produce(t, peer, "b", "b2")
	serve(t, peer, listen(t, addr))
	waitForContents(t, local, "b/b1", "b/b2")
}

func TestJoinWaitsForAPeerThatIsNotServingYet(t *testing.T) {
	// An address nobody listens on: bind it, then release it.
	lis := listen(t, "")
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	local := newLog(t)
	r := newReplicator(t, local)
	require.NoError(t, r.Join("b", addr))

	peer := newLog(t)
	produce(t, peer, "b", "b1")
	serve(t, peer, listen(t, addr))
	waitForContents(t, local, "b/b1")
}

func TestJoinAtANewAddressMovesReplication(t *testing.T) {
	local := newLog(t)
	peer := newLog(t)
	first := listen(t, "")
	stopFirst := serve(t, peer, first)
	produce(t, peer, "b", "b1")
	r := newReplicator(t, local)
	require.NoError(t, r.Join("b", first.Addr().String()))
	waitForContents(t, local, "b/b1")

	// b comes back at another address, with the same log.
	stopFirst()
	second := listen(t, "")
	serve(t, peer, second)
	produce(t, peer, "b", "b2")
	require.NoError(t, r.Join("b", second.Addr().String()))
	waitForContents(t, local, "b/b1", "b/b2")
}

func TestNewWithoutLog(t *testing.T) {
	_, err := replication.New(replication.Config{})
	require.ErrorContains(t, err, "Config.Log is required")
}
