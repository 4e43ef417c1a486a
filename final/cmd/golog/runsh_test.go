package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// scriptStartTimeout bounds how long ./run.sh may take to build golog and start it.
// With a cold build cache, compiling golog and its dependencies takes minutes.
const scriptStartTimeout = 10 * time.Minute

// TestRunScript runs the repository's ./run.sh the way the README tells a newcomer to,
// on a temporary data directory and certificate directory and on ports picked at run
// time (its environment overrides), and checks that the seed curl commands get exactly
// the answers the README shows; then it stops the server with SIGTERM, runs ./run.sh
// again on the same directories, and checks that the record is still there and the
// certificates were kept.
func TestRunScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds golog with run.sh and starts it")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "run.sh"))
	require.NoError(t, err)
	if _, err := os.Stat(script); err != nil {
		t.Skipf("not inside the golog repository: %v", err)
	}
	clearEnv(t)
	certDir := filepath.Join(testenv.TempDir(t), "certs")
	env := append(os.Environ(),
		"GOLOG_DATA_DIR="+testenv.TempDir(t),
		"GOLOG_CERT_DIR="+certDir,
		// Port 0: the server picks free ports and logs them.
		"GOLOG_HTTP_ADDR=127.0.0.1:0", "GOLOG_RPC_ADDR=127.0.0.1:0", "GOLOG_BIND_ADDR=127.0.0.1:0",
	)

	p, out := runScript(t, script, env)
	require.Contains(t, out, "made a CA and certificates in "+certDir)
	require.FileExists(t, filepath.Join(certDir, "ca.pem"))
	require.Equal(t, seedProduced, seedCurl(t, http.MethodPost, p.httpAddr, seedProduce))
	require.Equal(t, seedConsumed, seedCurl(t, http.MethodGet, p.httpAddr, seedConsume))
	stopScript(t, p)

	p, out = runScript(t, script, env)
	require.NotContains(t, out, "made a CA", "the certificates of the first run are kept")
	require.Equal(t, seedConsumed, seedCurl(t, http.MethodGet, p.httpAddr, seedConsume), "after a restart")
	stopScript(t, p)
}

// runScript runs script with env, waits until the server it starts serves, and
// returns it and what the script printed on its standard output so far.
func runScript(t *testing.T, script string, env []string) (*process, string) {
	t.Helper()
	// A file rather than a pipe: run.sh passes its standard output on to the server.
	stdout, err := os.Create(filepath.Join(testenv.TempDir(t), "stdout"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, stdout.Close()) })
	cmd := exec.Command("bash", script)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = env
	cmd.Stdout = stdout
	p := runProcess(t, "run.sh", cmd, scriptStartTimeout)
	out, err := os.ReadFile(stdout.Name())
	require.NoError(t, err)
	return p, string(out)
}

// stopScript stops the server run.sh started (run.sh runs it in its place) with
// SIGTERM, and checks that it stops gracefully.
func stopScript(t *testing.T, p *process) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(waitFor):
		t.Fatalf("the server of run.sh did not stop within %s of SIGTERM", waitFor)
	}
	require.Equal(t, 0, p.cmd.ProcessState.ExitCode())
}

// seedCurl runs curl -X method addr -d body, the seed command, and returns what it
// prints. Without a curl command, it sends the same request with curl's headers.
func seedCurl(t *testing.T, method, addr, body string) string {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		_, out := curl(t, method, addr, body)
		return out
	}
	out, err := exec.CommandContext(t.Context(), "curl", "-sS", "-X", method, addr, "-d", body).Output()
	require.NoError(t, err)
	return string(out)
}
