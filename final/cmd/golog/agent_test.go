package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcstatus "google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/agent"
	tlsconfig "golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/storage"
	"golog/internal/testenv"
)

// testHooks returns hooks that shorten Raft's and Serf's timers, send the agent's logs
// to the test, and hand the agent over on started once it serves.
func testHooks(t *testing.T, started chan<- *agent.Agent) agentHooks {
	label := fmt.Sprintf("%s/%d", t.Name(), os.Getpid())
	return agentHooks{
		configure: func(c *agent.Config) {
			c.Logger = testenv.Logger(t)
			c.Tune = func(c *serf.Config) {
				// Shutdown's graceful leave waits LeavePropagateDelay (1s by default).
				c.LeavePropagateDelay = 10 * time.Millisecond
				// Keeps this test's gossip apart from other tests' on the machine.
				c.MemberlistConfig.Label = label
			}
			c.RaftTune = func(c *consensus.RaftConfig) {
				// An election takes a second or two with raft's defaults.
				c.HeartbeatTimeout = 200 * time.Millisecond
				c.ElectionTimeout = 200 * time.Millisecond
				c.LeaderLeaseTimeout = 200 * time.Millisecond
			}
		},
		started: func(a *agent.Agent) { started <- a },
	}
}

// startAgent runs golog agent in-process, as node a with its log in dataDir and the
// test's certificates, on ports picked at run time, with the extra args. It waits until
// the agent serves and returns it, and a function that stops the command, as a signal
// would, and returns its error; the test's cleanup calls it too.
func startAgent(t *testing.T, dataDir string, args ...string) (a *agent.Agent, stop func() error) {
	t.Helper()
	certs := testenv.Certs(t)
	started := make(chan *agent.Agent, 1)
	c := newAgentCommand(testHooks(t, started))
	c.cmd.SetArgs(append([]string{
		"--node-name", "a", "--data-dir", dataDir, "--cert-dir", filepath.Dir(certs.CAFile),
		"--http-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0", "--bind-addr", "127.0.0.1:0",
	}, args...))
	c.cmd.SilenceUsage, c.cmd.SilenceErrors = true, true
	c.cmd.SetOut(io.Discard)
	c.cmd.SetErr(io.Discard)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.cmd.ExecuteContext(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { _ = stop() })
	select {
	case a = <-started:
		return a, stop
	case err := <-done:
		t.Fatalf("golog agent returned before it served: %v", err)
	case <-time.After(waitFor):
		t.Fatalf("golog agent did not serve within %s", waitFor)
	}
	return nil, nil
}

// curl sends a request the way curl -X method -d body does, and returns the status and
// the body as curl would print it.
func curl(t *testing.T, method, addr, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+addr, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d sends it
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	res, err := (&http.Client{Transport: transport}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(out)
}

// The seed commands, and what curl prints for them on a new log.
const (
	seedProduce     = `{"record": {"value": "AA"}}`
	seedProduced    = `{"offset":0}` + "\n"
	seedConsume     = `{"offset": 0}`
	seedConsumed    = `{"record":{"value":"AA","offset":0}}` + "\n"
	seedConsumeMore = `{"offset": 1}`
)

// TestAgentServesSeedCommands starts golog agent with nothing but the certificates,
// a data directory and ports, and checks that it answers the seed curl commands
// exactly, at once (a server alone in its cluster elects itself before it serves), and
// again after a restart on the same data directory. In between, a root client produces
// over gRPC with mutual TLS, and the nobody client is refused by the built-in ACL.
func TestAgentServesSeedCommands(t *testing.T) {
	clearEnv(t)
	tmp := testenv.TempDir(t)
	t.Setenv("TMPDIR", tmp) // where the built-in ACL's files go while the server runs
	dataDir := testenv.TempDir(t)

	a, stop := startAgent(t, dataDir)
	status, body := curl(t, http.MethodPost, a.HTTPAddr(), seedProduce)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, seedProduced, body)
	status, body = curl(t, http.MethodGet, a.HTTPAddr(), seedConsume)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, seedConsumed, body)

	certs := testenv.Certs(t)
	for _, client := range []struct {
		name, cert, key string
		want            codes.Code
	}{
		{"root", certs.RootClientCertFile, certs.RootClientKeyFile, codes.OK},
		{"nobody", certs.NobodyClientCertFile, certs.NobodyClientKeyFile, codes.PermissionDenied},
	} {
		clientTLS, err := tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
			CertFile: client.cert, KeyFile: client.key, CAFile: certs.CAFile, ServerAddress: "127.0.0.1",
		})
		require.NoError(t, err)
		conn, err := grpc.NewClient(a.RPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
		require.NoError(t, err)
		res, err := api.NewLogClient(conn).Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("BB")}})
		require.Equal(t, client.want, grpcstatus.Code(err), "%s: %v", client.name, err)
		if client.want == codes.OK {
			require.Equal(t, uint64(1), res.Offset)
		}
		require.NoError(t, conn.Close())
	}

	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the built-in ACL's files while the server runs")
	require.NoError(t, stop(), "golog agent after a signal")
	entries, err = os.ReadDir(tmp)
	require.NoError(t, err)
	require.Empty(t, entries, "the built-in ACL's files are removed when the server stops")

	a, stop = startAgent(t, dataDir)
	status, body = curl(t, http.MethodGet, a.HTTPAddr(), seedConsume)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, seedConsumed, body, "after a restart")
	status, body = curl(t, http.MethodGet, a.HTTPAddr(), seedConsumeMore)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `{"record":{"value":"BB","offset":1}}`+"\n", body, "after a restart")
	status, body = curl(t, http.MethodPost, a.HTTPAddr(), seedProduce)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `{"offset":2}`+"\n", body, "offsets go on after a restart")
	require.NoError(t, stop(), "golog agent after a signal")
}

// TestAgentCannotStart checks that golog agent reports, with exit status 1 and a
// readable message, what keeps a server from starting, and leaves nothing running.
func TestAgentCannotStart(t *testing.T) {
	clearEnv(t)
	certs := testenv.Certs(t)
	certDir := filepath.Dir(certs.CAFile)

	// A port in use, a data directory in use and an address nobody gossips on.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, taken.Close()) })
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	nobody := gone.Addr().String()
	require.NoError(t, gone.Close())
	inUse := testenv.TempDir(t)
	startAgent(t, inUse)

	tests := []struct {
		name      string
		args      []string
		wantError []string
	}{
		{name: "no certificates", args: []string{"--cert-dir", testenv.TempDir(t)},
			wantError: []string{"server.pem", "make the certificates with: golog certs init --dir"}},
		{name: "no server key", args: []string{"--key-file", filepath.Join(testenv.TempDir(t), "key.pem")},
			wantError: []string{"key.pem"}},
		{name: "no ACL policy", args: []string{"--acl-policy", filepath.Join(testenv.TempDir(t), "policy.csv")},
			wantError: []string{"policy.csv"}},
		{name: "HTTP port in use", args: []string{"--http-addr", taken.Addr().String()},
			wantError: []string{"HTTP", "address already in use"}},
		{name: "RPC port in use", args: []string{"--rpc-addr", taken.Addr().String()},
			wantError: []string{"RPC", "address already in use"}},
		{name: "data directory in use", args: []string{"--data-dir", inUse}, wantError: []string{storage.ErrInUse.Error()}},
		{name: "nobody to join", args: []string{"--join", nobody}, wantError: []string{"join cluster via " + nobody}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{
				"agent", "--node-name", "b", "--data-dir", testenv.TempDir(t), "--cert-dir", certDir,
				"--http-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0", "--bind-addr", "127.0.0.1:0",
			}, tc.args...)
			var stdout, stderr bytes.Buffer
			code := execute(t.Context(), newRootCommand(), args, &stdout, &stderr)
			require.Equal(t, exitFailed, code, "stderr: %s", stderr.String())
			for _, want := range tc.wantError {
				require.Contains(t, stderr.String(), want)
			}
			require.NotContains(t, stderr.String(), "agent started")
		})
	}
}
