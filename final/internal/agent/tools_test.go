package agent_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// buildTimeout bounds building a pinned tool: a minute or two from a cold cache on two
// cores, a second once cached.
const buildTimeout = 5 * time.Minute

// toolTimeout bounds one run of a tool against a server.
const toolTimeout = 30 * time.Second

// buildTool builds the pinned tool pkg (a `tool` of the repository's tools/go.mod, as
// `go -C tools tool` runs it) into a temporary directory and returns its path.
func buildTool(t *testing.T, pkg string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	tools := filepath.Join(filepath.Dir(file), "..", "..", "..", "tools")
	out := filepath.Join(testenv.TempDir(t), filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "-C", tools, "build", "-o", out, pkg)
	cmd.Env = append(cmd.Environ(), "GOWORK=off", "GOFLAGS=")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go -C tools build %s:\n%s", pkg, b)
	return out
}

// runTool runs the tool at path with args and returns its exit code and output.
func runTool(t *testing.T, path string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), toolTimeout)
	defer cancel()
	b, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(b)
	case errors.As(err, &exit) && ctx.Err() == nil:
		return exit.ExitCode(), string(b)
	}
	t.Fatalf("%s %s: %v\n%s", filepath.Base(path), strings.Join(args, " "), err, b)
	return 0, ""
}

// The operators' tools work against a server over mutual TLS: grpc-health-probe says
// SERVING, and NOT_SERVING (exit status 4) once the server has no leader; grpcurl lists
// the services and calls Produce and Consume with reflection alone, no .proto file.
// Both are refused a connection without a certificate, or with one from another CA,
// and the health check is refused a client the ACL lets do nothing.
func TestHealthProbeAndGrpcurl(t *testing.T) {
	probe := buildTool(t, "github.com/grpc-ecosystem/grpc-health-probe")
	grpcurl := buildTool(t, "github.com/fullstorydev/grpcurl/cmd/grpcurl")

	c := newCluster(t, nil)
	p := newPartition(t)
	c.configure = p.attach
	nodes := c.startN(3)
	lead := leader(t, nodes)
	follower := followers(nodes, lead)[0]
	certs := testenv.Certs(t)

	probeTLS := func(cert, key string) []string {
		return []string{"-addr", follower.rpcAddr, "-tls", "-tls-ca-cert", certs.CAFile,
			"-tls-client-cert", cert, "-tls-client-key", key, "-connect-timeout", "5s", "-rpc-timeout", "5s"}
	}
	root := probeTLS(certs.RootClientCertFile, certs.RootClientKeyFile)
	// The follower serves once it has caught up; the health service follows within a
	// quarter of a second.
	var code int
	var out string
	require.Eventually(t, func() bool {
		code, out = runTool(t, probe, root...)
		return code == 0
	}, waitFor, 200*time.Millisecond, "grpc-health-probe never saw %s serve", follower.name)
	require.Contains(t, out, "status: SERVING")
	code, out = runTool(t, probe, append(root, "-service", "log.v1.Log")...)
	require.Equal(t, 0, code, out)

	grpcurlTLS := func(cert, key string) []string {
		return []string{"-cacert", certs.CAFile, "-cert", cert, "-key", key, "-max-time", "10"}
	}
	rootCurl := grpcurlTLS(certs.RootClientCertFile, certs.RootClientKeyFile)
	code, out = runTool(t, grpcurl, append(rootCurl, lead.rpcAddr, "list")...)
	require.Equal(t, 0, code, out)
	for _, service := range []string{"log.v1.Log", "log.v1.Cluster", "grpc.health.v1.Health"} {
		require.Contains(t, strings.Fields(out), service)
	}
	code, out = runTool(t, grpcurl, append(rootCurl, lead.rpcAddr, "describe", "log.v1.Log.Produce")...)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "rpc Produce ( .log.v1.ProduceRequest ) returns ( .log.v1.ProduceResponse )")
	for i, value := range []string{"Zmlyc3Q=", "c2Vjb25k"} { // "first", "second" in base64, as JSON has bytes
		code, out = runTool(t, grpcurl, append(rootCurl, "-emit-defaults", "-d",
			`{"record": {"value": "`+value+`"}}`, lead.rpcAddr, "log.v1.Log/Produce")...)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, `"offset": "`+string(rune('0'+i))+`"`)
	}
	code, out = runTool(t, grpcurl, append(rootCurl, "-d", `{"offset": 1}`, lead.rpcAddr, "log.v1.Log/Consume")...)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"value": "c2Vjb25k"`)

	// Refused: no client certificate, one from another CA, one the ACL knows nothing for.
	code, out = runTool(t, probe, "-addr", follower.rpcAddr, "-tls", "-tls-ca-cert", certs.CAFile,
		"-connect-timeout", "5s", "-rpc-timeout", "5s")
	require.NotEqual(t, 0, code, "probe without a client certificate: %s", out)
	code, out = runTool(t, probe, probeTLS(certs.OtherCAClientCertFile, certs.OtherCAClientKeyFile)...)
	require.NotEqual(t, 0, code, "probe with another CA's certificate: %s", out)
	code, out = runTool(t, probe, probeTLS(certs.NobodyClientCertFile, certs.NobodyClientKeyFile)...)
	require.NotEqual(t, 0, code, out)
	require.Contains(t, out, "PermissionDenied")
	code, out = runTool(t, grpcurl, "-cacert", certs.CAFile, "-max-time", "10", lead.rpcAddr, "list")
	require.NotEqual(t, 0, code, "grpcurl without a client certificate: %s", out)
	code, out = runTool(t, grpcurl, append(grpcurlTLS(certs.OtherCAClientCertFile, certs.OtherCAClientKeyFile),
		lead.rpcAddr, "list")...)
	require.NotEqual(t, 0, code, "grpcurl with another CA's certificate: %s", out)
	code, out = runTool(t, grpcurl, append(grpcurlTLS(certs.NobodyClientCertFile, certs.NobodyClientKeyFile),
		lead.rpcAddr, "list")...)
	require.NotEqual(t, 0, code, out)
	require.Contains(t, out, "PermissionDenied")

	// No leader: the follower, cut off with the others from each other, says so.
	p.Cut(lead)
	p.Cut(followers(nodes, lead)[1])
	require.Eventually(t, func() bool {
		code, _ := runTool(t, probe, root...)
		return code == 4
	}, waitFor, 200*time.Millisecond, "grpc-health-probe never saw %s without a leader", follower.name)
	_, out = runTool(t, probe, root...)
	require.Contains(t, out, "NOT_SERVING")
}
