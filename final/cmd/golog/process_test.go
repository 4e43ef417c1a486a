package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// process is a golog agent running as a child process of the test: the test binary
// itself, which runs main when commandProcessEnv is set (see TestMain).
type process struct {
	name, dataDir               string
	cmd                         *exec.Cmd
	rpcAddr, bindAddr, httpAddr string        // as the server reported them
	exited                      chan struct{} // closed once the process has exited and its output is read

	mu       sync.Mutex
	watchers []lineWatcher // guarded by mu; see watch
}

// A lineWatcher waits for a line of a process's log that matches re.
type lineWatcher struct {
	re   *regexp.Regexp
	seen chan struct{}
}

// watch returns a channel that is closed when the process logs a line matching pattern
// from now on.
func (p *process) watch(pattern string) <-chan struct{} {
	w := lineWatcher{re: regexp.MustCompile(pattern), seen: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watchers = append(p.watchers, w)
	return w.seen
}

// notify closes the channels of the watchers whose pattern line matches, and forgets them.
func (p *process) notify(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	waiting := p.watchers[:0]
	for _, w := range p.watchers {
		if w.re.MatchString(line) {
			close(w.seen)
		} else {
			waiting = append(waiting, w)
		}
	}
	p.watchers = waiting
}

// started matches the line the agent logs once it serves, with its addresses.
var started = regexp.MustCompile(`msg="agent started" .*rpc_addr=(\S+) bind_addr=(\S+) http_addr=(\S+)`)

// startProcess starts golog agent as server name on ports picked at run time, with its
// data in dataDir, joining the cluster through join (none: it starts the cluster), and
// waits until it serves.
func startProcess(t *testing.T, name, dataDir, join string) *process {
	t.Helper()
	return startProcessAt(t, name, dataDir, join, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
}

// restart starts p again on the same data directory and addresses, as a server
// restarted by its operator would be. (The same gossip address matters: memberlist
// does not let the name of a failed member come back at another address.)
func (p *process) restart(t *testing.T, join string) *process {
	t.Helper()
	return startProcessAt(t, p.name, p.dataDir, join, p.rpcAddr, p.bindAddr, p.httpAddr)
}

// startProcessAt is startProcess on the given addresses.
func startProcessAt(t *testing.T, name, dataDir, join, rpcAddr, bindAddr, httpAddr string) *process {
	t.Helper()
	certs := testenv.Certs(t)
	args := []string{
		"agent", "--node-name", name, "--data-dir", dataDir, "--cert-dir", filepath.Dir(certs.CAFile),
		"--rpc-addr", rpcAddr, "--bind-addr", bindAddr, "--http-addr", httpAddr,
	}
	if join != "" {
		args = append(args, "--join", join)
	}
	cmd := exec.Command(os.Args[0], args...)
	// Without the GOLOG_ settings of the environment the tests run in: an operator's
	// GOLOG_LOG_FORMAT=json would hide the addresses from started.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix+"_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, commandProcessEnv+"=1")
	p := runProcess(t, name, cmd, waitFor)
	p.dataDir = dataDir
	return p
}

// runProcess starts cmd, a golog agent or something that runs one, as server name,
// and waits up to timeout until it serves, reading the addresses from its log on
// stderr. The test's cleanup stops it if it still runs.
func runProcess(t *testing.T, name string, cmd *exec.Cmd, timeout time.Duration) *process {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	p := &process{name: name, cmd: cmd, exited: make(chan struct{})}
	addrs := make(chan []string, 1)
	go func() {
		defer close(p.exited)
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			line := scanner.Text()
			if testenv.Debug() {
				fmt.Fprintf(os.Stderr, "%s: %s\n", name, line)
			}
			if m := started.FindStringSubmatch(line); m != nil {
				addrs <- m[1:]
			}
			p.notify(line)
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })

	select {
	case a := <-addrs:
		p.rpcAddr, p.bindAddr, p.httpAddr = a[0], a[1], a[2]
		t.Logf("server %s (pid %d) serves HTTP on %s, gossips on %s", name, cmd.Process.Pid, p.httpAddr, p.bindAddr)
	case <-p.exited:
		t.Fatalf("server %s exited before serving", name)
	case <-time.After(timeout):
		t.Fatalf("server %s did not start within %s", name, timeout)
	}
	return p
}

// kill kills the process with SIGKILL: no shutdown, no closing, no flushing.
func (p *process) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	<-p.exited
}

// stop asks the process to shut down (SIGTERM) and waits for it, if it still runs.
func (p *process) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(waitFor):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("server %s did not stop within %s of SIGTERM", p.name, waitFor)
	}
}

// post produces value over HTTP and returns the answer's status and body.
func post(client *http.Client, httpAddr, value string) (int, string, error) {
	res, err := client.Post("http://"+httpAddr, "application/json",
		strings.NewReader(`{"record": {"value": "`+value+`"}}`))
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(body)), err
}

// holds reports whether the server at httpAddr holds value at offset.
func holds(client *http.Client, httpAddr string, offset int, value string) bool {
	res, err := client.Get(fmt.Sprintf("http://%s/?offset=%d", httpAddr, offset))
	if err != nil {
		return false
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	want := fmt.Sprintf(`{"record":{"value":"%s","offset":%d}}`, value, offset)
	return err == nil && res.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == want
}
