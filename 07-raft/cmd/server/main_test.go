package main

import (
	"context"
	"flag"
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
	tlsconfig "golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/log"
	"golog/internal/server"
	"golog/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(serverProcessEnv) != "" {
		// This process is a server that a test started (see startProcess): be the
		// command, with the arguments the test gave.
		main()
		return
	}
	testenv.Main(m)
}

// baseConfig returns a config for run with the test's certificates, the stage's
// ACL and the test's logger, gossiping on a free port with short timers, electing a
// leader within a few hundred milliseconds, and the certificates' paths.
func baseConfig(t *testing.T) (config, testenv.CertFiles) {
	certs := testenv.Certs(t)
	model, policy := testenv.ACL(t)
	label := fmt.Sprintf("%s/%d", t.Name(), os.Getpid())
	return config{
		NodeName:  "server-0",
		BindAddr:  "127.0.0.1:0",
		CertDir:   filepath.Dir(certs.CAFile),
		ACLModel:  model,
		ACLPolicy: policy,
		Logger:    testenv.Logger(t),
		Tune: func(c *serf.Config) {
			// Shutdown's graceful leave waits LeavePropagateDelay (1s by default).
			c.LeavePropagateDelay = 10 * time.Millisecond
			// Keeps this test's gossip apart from other tests' on the machine.
			c.MemberlistConfig.Label = label
		},
		RaftTune: func(c *consensus.RaftConfig) {
			// An election takes a second or two with raft's defaults.
			c.HeartbeatTimeout = 200 * time.Millisecond
			c.ElectionTimeout = 200 * time.Millisecond
			c.LeaderLeaseTimeout = 200 * time.Millisecond
		},
	}, certs
}

// startRun starts run on ports picked at run time with the log in dataDir. It returns
// the HTTP server's base URL and a function that stops run and returns run's result;
// the test's cleanup calls it too.
func startRun(t *testing.T, dataDir string) (url string, stop func() error) {
	url, _, _, stop = startRunWithRPC(t, dataDir)
	return url, stop
}

// startRunWithRPC is startRun that also returns the gRPC server's address and the
// certificates it uses.
func startRunWithRPC(t *testing.T, dataDir string) (url, rpcAddr string, certs testenv.CertFiles, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	cfg, certs := baseConfig(t)
	cfg.DataDir, cfg.Listener, cfg.RPCListener = dataDir, ln, rpcLn
	go func() { done <- run(ctx, cfg) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), rpcLn.Addr().String(), certs, stop
}

// TestRunServesBothAPIsOverOneLog produces over gRPC, as root over mutual TLS, and
// reads the record back over HTTP: both APIs serve the same log.
func TestRunServesBothAPIsOverOneLog(t *testing.T) {
	url, rpcAddr, certs, stop := startRunWithRPC(t, testenv.TempDir(t))

	rootTLS, err := tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
		CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile,
		CAFile: certs.CAFile, ServerAddress: "127.0.0.1",
	})
	require.NoError(t, err)
	conn, err := grpc.NewClient(rpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(rootTLS)))
	require.NoError(t, err)
	client := api.NewLogClient(conn)
	// The server elects itself a moment after it starts; until then it is no leader,
	// and refuses writes without appending anything.
	var res *api.ProduceResponse
	require.Eventually(t, func() bool {
		res, err = client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("AA")}})
		return grpcstatus.Code(err) != codes.FailedPrecondition
	}, testenv.WaitFor, testenv.Tick)
	require.NoError(t, err)
	require.Equal(t, uint64(0), res.Offset)
	require.NoError(t, conn.Close())

	status, body := request(t, newClient(t), http.MethodGet, url, `{"offset": 0}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `{"record":{"value":"AA","offset":0}}`+"\n", body)
	require.NoError(t, stop(), "run after cancel")
}

// request sends a request the way curl -d does, and returns the status and body.
func request(t *testing.T, client *http.Client, method, url, body string) (int, string) {
	t.Helper()
	status, respBody, err := tryRequest(t.Context(), client, method, url, body)
	require.NoError(t, err)
	return status, respBody
}

// tryRequest is request for require.Eventually's condition, which must not stop the
// test: it returns the error instead.
func tryRequest(ctx context.Context, client *http.Client, method, url, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// requestUntil sends a request until the answer is not the status waitingStatus, and
// returns the last answer. A server answers a write with 503 while it is not the leader
// (nothing is appended then), and after a restart a read of an old offset with 404
// until it has applied its records again from its Raft log.
func requestUntil(t *testing.T, client *http.Client, method, url, body string, waitingStatus int) (int, string) {
	t.Helper()
	var status int
	var respBody string
	require.Eventually(t, func() bool {
		var err error
		status, respBody, err = tryRequest(t.Context(), client, method, url, body)
		return err == nil && status != waitingStatus
	}, testenv.WaitFor, testenv.Tick, "%s %s: no answer but %d", method, url, waitingStatus)
	return status, respBody
}

// newClient returns an HTTP client whose idle connections are closed when the test
// ends, so that no goroutine outlives it.
func newClient(t *testing.T) *http.Client {
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport}
}

// TestRunKeepsRecordsAcrossRestarts stops the server and starts a new one on the same
// data directory: the records are still there and offsets go on where they stopped.
func TestRunKeepsRecordsAcrossRestarts(t *testing.T) {
	dataDir := testenv.TempDir(t)
	client := newClient(t)

	url, stop := startRun(t, dataDir)
	for i, value := range []string{"AA", "BB"} {
		status, body := requestUntil(t, client, http.MethodPost, url, `{"record": {"value": "`+value+`"}}`,
			http.StatusServiceUnavailable)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, fmt.Sprintf(`{"offset":%d}`, i)+"\n", body)
	}
	require.NoError(t, stop(), "run after cancel")

	url, stop = startRun(t, dataDir)
	status, body := requestUntil(t, client, http.MethodGet, url, `{"offset": 0}`, http.StatusNotFound)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `{"record":{"value":"AA","offset":0}}`+"\n", body)

	status, body = request(t, client, http.MethodGet, url+"/?offset=1", "")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `{"record":{"value":"BB","offset":1}}`+"\n", body)

	status, body = requestUntil(t, client, http.MethodPost, url, `{"record": {"value": "CC"}}`,
		http.StatusServiceUnavailable)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `{"offset":2}`+"\n", body)
	require.NoError(t, stop(), "run after cancel")
}

// TestRunDataDirInUse checks that a second server on the same data directory fails at
// once, and closes the listener it was given.
func TestRunDataDirInUse(t *testing.T) {
	dataDir := testenv.TempDir(t)
	url, _ := startRun(t, dataDir)
	// Once the first server answers, it has the log open.
	status, body := requestUntil(t, newClient(t), http.MethodPost, url, `{"record": {"value": "AA"}}`,
		http.StatusServiceUnavailable)
	require.Equal(t, http.StatusOK, status, body)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	// Cancelled already, so that run returns even if it wrongly gets as far as serving.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg, _ := baseConfig(t)
	cfg.DataDir, cfg.Listener, cfg.RPCListener = dataDir, ln, rpcLn
	err = run(ctx, cfg)
	require.ErrorIs(t, err, log.ErrInUse)

	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = rpcLn.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestRunAddressInUse checks that run reports a port it cannot listen on, and leaves
// the data directory free.
func TestRunAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, taken.Close()) })
	dataDir := testenv.TempDir(t)

	for _, addrs := range [][2]string{
		{taken.Addr().String(), "127.0.0.1:0"},
		{"127.0.0.1:0", taken.Addr().String()},
	} {
		cfg, _ := baseConfig(t)
		cfg.HTTPAddr, cfg.RPCAddr, cfg.DataDir = addrs[0], addrs[1], dataDir
		err = run(t.Context(), cfg)
		require.ErrorContains(t, err, "address already in use")
	}

	l, err := log.NewLog(dataDir, log.Config{Logger: testenv.Logger(t)})
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

// TestRunJoinsThroughStartJoinAddrs checks that run hands -start-join to the agent:
// with nobody gossiping at the address, it cannot start.
func TestRunJoinsThroughStartJoinAddrs(t *testing.T) {
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	nobody := gone.Addr().String()
	require.NoError(t, gone.Close())

	cfg, _ := baseConfig(t)
	cfg.DataDir, cfg.StartJoinAddrs = testenv.TempDir(t), []string{nobody}
	cfg.HTTPAddr, cfg.RPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	err = run(t.Context(), cfg)
	require.ErrorContains(t, err, "join cluster via "+nobody)
}

func TestParseConfig(t *testing.T) {
	hostname, err := os.Hostname()
	require.NoError(t, err)
	defaults := config{
		NodeName: hostname, BindAddr: "127.0.0.1:8401",
		HTTPAddr: "127.0.0.1:4001", RPCAddr: "127.0.0.1:8400", DataDir: ".data", CertDir: "/certs",
		ACLModel: "acl/model.conf", ACLPolicy: "acl/policy.csv", MaxBodyBytes: server.DefaultMaxBodyBytes,
	}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		want      config
		wantError string // part of the error; empty for none
	}{
		{name: "defaults", args: []string{"-cert-dir", "/certs"}, want: defaults},
		{
			name: "environment",
			env: map[string]string{
				"GOLOG_NODE_NAME": "b", "GOLOG_BIND_ADDR": "10.0.0.2:8401", "GOLOG_START_JOIN": "10.0.0.1:8401",
				"GOLOG_HTTP_ADDR": "localhost:4002", "GOLOG_RPC_ADDR": ":8402", "GOLOG_DATA_DIR": "/var/lib/golog",
				"GOLOG_CERT_DIR": "/etc/golog", "GOLOG_ACL_MODEL": "m.conf", "GOLOG_ACL_POLICY": "p.csv",
				"GOLOG_MAX_BODY_BYTES": "4096", "GOLOG_DEBUG": "true",
			},
			want: config{
				NodeName: "b", BindAddr: "10.0.0.2:8401", StartJoinAddrs: []string{"10.0.0.1:8401"},
				HTTPAddr: "localhost:4002", RPCAddr: ":8402", DataDir: "/var/lib/golog", CertDir: "/etc/golog",
				ACLModel: "m.conf", ACLPolicy: "p.csv", MaxBodyBytes: 4096, Debug: true,
			},
		},
		{
			name: "flags override the environment",
			env: map[string]string{
				"GOLOG_HTTP_ADDR": "127.0.0.1:4002", "GOLOG_DEBUG": "true", "GOLOG_CERT_DIR": "/etc/golog",
				"GOLOG_NODE_NAME": "b", "GOLOG_START_JOIN": "10.0.0.1:8401",
			},
			args: []string{
				"-node-name", "c", "-bind-addr", "127.0.0.1:8421", "-start-join", "127.0.0.1:8401, 127.0.0.1:8411,",
				"-http-addr", "[::1]:4003", "-rpc-addr", ":8403", "-data-dir", "d", "-cert-dir", "c",
				"-acl-model", "m", "-acl-policy", "p", "-max-body-bytes", "10", "-debug=false",
			},
			want: config{
				NodeName: "c", BindAddr: "127.0.0.1:8421", StartJoinAddrs: []string{"127.0.0.1:8401", "127.0.0.1:8411"},
				HTTPAddr: "[::1]:4003", RPCAddr: ":8403", DataDir: "d", CertDir: "c",
				ACLModel: "m", ACLPolicy: "p", MaxBodyBytes: 10,
			},
		},
		{
			name: "an empty -start-join starts a new cluster",
			env:  map[string]string{"GOLOG_START_JOIN": "10.0.0.1:8401"},
			args: []string{"-cert-dir", "/certs", "-start-join="},
			want: defaults,
		},
		{name: "no node name", args: []string{"-cert-dir=c", "-node-name="}, wantError: "-node-name is required"},
		{name: "no certificates", wantError: "-cert-dir is required"},
		{name: "HTTP on every interface", args: []string{"-cert-dir=c", "-http-addr=:4001"}, wantError: "loopback address only"},
		{name: "HTTP on another address", args: []string{"-cert-dir=c", "-http-addr=10.0.0.1:4001"}, wantError: "loopback address only"},
		{name: "bad GOLOG_DEBUG", env: map[string]string{"GOLOG_DEBUG": "maybe"}, wantError: "GOLOG_DEBUG"},
		{name: "bad GOLOG_MAX_BODY_BYTES", env: map[string]string{"GOLOG_MAX_BODY_BYTES": "1MiB"}, wantError: "GOLOG_MAX_BODY_BYTES"},
		{name: "zero body limit", args: []string{"-max-body-bytes=0"}, wantError: "must be positive"},
		{name: "unknown flag", args: []string{"-port=1"}, wantError: "flag provided but not defined"},
		{name: "stray argument", args: []string{"data"}, wantError: `unexpected argument "data"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(key string) string { return tc.env[key] }
			got, err := parseConfig(tc.args, getenv, io.Discard)
			if tc.wantError != "" {
				require.ErrorContains(t, err, tc.wantError)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("help", func(t *testing.T) {
		var usage strings.Builder
		_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &usage)
		require.ErrorIs(t, err, flag.ErrHelp)
		for _, env := range []string{"GOLOG_NODE_NAME", "GOLOG_BIND_ADDR", "GOLOG_START_JOIN", "GOLOG_HTTP_ADDR", "GOLOG_RPC_ADDR", "GOLOG_DATA_DIR", "GOLOG_CERT_DIR", "GOLOG_ACL_MODEL", "GOLOG_ACL_POLICY", "GOLOG_MAX_BODY_BYTES", "GOLOG_DEBUG"} {
			require.Contains(t, usage.String(), env)
		}
	})
}

// TestRunRefusesToStartInsecurely checks that run stops before listening when the
// certificates or the ACL cannot be loaded.
func TestRunRefusesToStartInsecurely(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*config)
		wantErr string
	}{
		{"no certificates in the directory", func(c *config) { c.CertDir = t.TempDir() }, "server.pem"},
		{"no server key", func(c *config) {
			require.NoError(t, os.Remove(filepath.Join(c.CertDir, "server-key.pem")))
		}, "server-key.pem"},
		{"no ACL policy", func(c *config) { c.ACLPolicy = filepath.Join(t.TempDir(), "policy.csv") }, "policy.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := baseConfig(t)
			cfg.DataDir = testenv.TempDir(t)
			cfg.HTTPAddr, cfg.RPCAddr = "127.0.0.1:0", "127.0.0.1:0"
			tt.change(&cfg)
			err := run(t.Context(), cfg)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
