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

// serverProcessEnv, set in a process's environment, makes the test binary run main
// instead of the tests: that is how these tests start real server processes, which
// they can kill with SIGKILL.
const serverProcessEnv = "GOLOG_TEST_SERVER_PROCESS"

// process is a server running as a child process of the test.
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

// startProcess starts server name on ports picked at run time, with its data in
// dataDir, joining the cluster through join (none: it starts the cluster), and waits
// until it serves.
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
	model, policy := testenv.ACL(t)
	args := []string{
		"-node-name", name, "-data-dir", dataDir, "-cert-dir", filepath.Dir(certs.CAFile),
		"-acl-model", model, "-acl-policy", policy,
		"-rpc-addr", rpcAddr, "-bind-addr", bindAddr, "-http-addr", httpAddr,
	}
	if join != "" {
		args = append(args, "-start-join", join)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), serverProcessEnv+"=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	p := &process{name: name, dataDir: dataDir, cmd: cmd, exited: make(chan struct{})}
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
	case <-time.After(testenv.WaitFor):
		t.Fatalf("server %s did not start within %s", name, testenv.WaitFor)
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
	case <-time.After(testenv.WaitFor):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("server %s did not stop within %s of SIGTERM", p.name, testenv.WaitFor)
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

// TestKilledFollowerRejoinsWithEveryRecord runs three server processes, kills a
// follower with SIGKILL in the middle of a stream of writes, restarts it on the same
// data directory, and checks that it ends up with every record the leader
// acknowledged, at the same offsets.
func TestKilledFollowerRejoinsWithEveryRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: testenv.WaitFor}

	a := startProcess(t, "a", testenv.TempDir(t), "")
	b := startProcess(t, "b", testenv.TempDir(t), a.bindAddr)
	c := startProcess(t, "c", testenv.TempDir(t), a.bindAddr)

	// a started the cluster and leads. Once b and c hold a record, they are voters.
	const total, killAfter = 200, 100
	acked := make([]string, 0, total)
	status, body, err := post(client, a.httpAddr, "v000")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `{"offset":0}`, body)
	acked = append(acked, "v000")
	for _, p := range []*process{b, c} {
		require.Eventually(t, func() bool { return holds(client, p.httpAddr, 0, "v000") }, testenv.WaitFor, testenv.Tick,
			"%s never got the first record", p.name)
	}

	// Write on; after killAfter acknowledgements, kill c while the writes go on.
	var wg sync.WaitGroup
	killNow := make(chan struct{})
	wg.Go(func() {
		<-killNow
		c.kill(t)
		t.Logf("killed c (SIGKILL) after %d acknowledged writes", killAfter)
	})
	for i := 1; i < total; i++ {
		value := fmt.Sprintf("v%03d", i)
		status, body, err := post(client, a.httpAddr, value)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, fmt.Sprintf(`{"offset":%d}`, len(acked)), body, "offsets are dense")
		acked = append(acked, value)
		if len(acked) == killAfter {
			close(killNow)
		}
	}
	wg.Wait()
	t.Logf("a acknowledged %d writes with b and c, then with b alone", len(acked))

	c = c.restart(t, a.bindAddr)
	require.Eventually(t, func() bool {
		for offset, value := range acked {
			if !holds(client, c.httpAddr, offset, value) {
				return false
			}
		}
		return true
	}, 2*testenv.WaitFor, 100*time.Millisecond, "the restarted c does not hold every acknowledged record")
	for offset, value := range acked {
		require.True(t, holds(client, b.httpAddr, offset, value), "b: offset %d", offset)
	}
	t.Logf("c came back and holds all %d records at the same offsets as a and b", len(acked))
}
