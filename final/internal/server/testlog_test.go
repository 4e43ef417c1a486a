package server

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/testenv"
)

// newTestLog returns a replicated log of one server on 127.0.0.1, which leads and has
// caught up; it is closed when the test ends (unless the test closed it). tune may
// change its configuration.
func newTestLog(t testing.TB, tune ...func(*consensus.Config)) *consensus.DistributedLog {
	t.Helper()
	certs := testenv.Certs(t)
	serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	peerTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	stream, err := consensus.NewStreamLayer(ln, consensus.StreamLayerConfig{
		ServerTLSConfig: serverTLS, PeerTLSConfig: peerTLS, ServerNames: []string{"server"},
		Logger: testenv.Logger(t),
	})
	require.NoError(t, err)
	var c consensus.Config
	c.Logger = testenv.Logger(t)
	c.Raft = consensus.RaftConfig{
		LocalID: "server-0", StreamLayer: stream, Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
	}
	for _, f := range tune {
		f(&c)
	}
	l, err := consensus.NewDistributedLog(testenv.TempDir(t), c)
	if err != nil {
		_ = ln.Close()
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, l.Close())
		require.NoError(t, ln.Close())
	})
	select {
	case <-l.Ready():
	case <-time.After(waitFor):
		t.Fatal("the test log never caught up")
	}
	return l
}

// NewTestLog is newTestLog, for the package's external tests.
var NewTestLog = newTestLog
