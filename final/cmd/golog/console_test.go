package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// Bounds of the browser test. browserTestTimeout bounds the whole test, so a browser
// that hangs fails it rather than CI.
const (
	browserTestTimeout = 4 * time.Minute
	labStartWait       = 90 * time.Second
	// electionWait is how long the page may take to show a new leader after the
	// leader is killed: gossip and Raft notice within a few seconds.
	electionWait = 30 * time.Second
	pagePoll     = 100 * time.Millisecond
)

// chromiumNames are the names Chromium goes by in PATH.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findChromium returns the path of Chromium, or skips the test saying how to get it.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const why = "the browser test needs Chromium, and none of %v is in PATH: run `make browser-deps` " +
		"(apt-get install chromium) where it can be installed"
	if os.Getenv("GOLOG_REQUIRE_BROWSER") != "" {
		// CI sets this, so that a missing browser fails the run instead of skipping the
		// only test that looks at the console the way a user does.
		t.Fatalf(why, chromiumNames)
	}
	t.Skipf(why, chromiumNames)
	return ""
}

// labNode is a server of a lab cluster, as golog lab prints it.
type labNode struct{ name, url string }

// labLine matches the line golog lab prints for each server once the cluster is up.
var labLine = regexp.MustCompile(`^lab:\s+(node-\d+)\s+console (http://\S+)`)

// startLab runs golog lab (the test binary, running main) with nodes servers on ports
// picked at run time, waits until it prints the cluster, and returns its servers. The
// servers' logs go to a file, whose path the test logs. The test's cleanup stops the
// lab, which stops the servers gracefully.
func startLab(t *testing.T, nodes int) []labNode {
	t.Helper()
	dir := testenv.TempDir(t)
	certs := testenv.Certs(t)
	logFile, err := os.Create(filepath.Join(dir, "servers.log"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, logFile.Close()) })
	t.Logf("the servers' logs: %s", logFile.Name())

	cmd := exec.Command(os.Args[0], "lab", "--nodes", strconv.Itoa(nodes), "--addr", "127.0.0.1:0",
		"--http-port", "0", "--rpc-port", "0", "--gossip-port", "0",
		"--data-dir", filepath.Join(dir, "data"), "--cert-dir", filepath.Dir(certs.CAFile))
	cmd.Env = append(os.Environ(), commandProcessEnv+"=1")
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	found := make(chan labNode, nodes)
	go func() {
		defer close(exited)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if m := labLine.FindStringSubmatch(scanner.Text()); m != nil {
				found <- labNode{name: m[1], url: m[2]}
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(waitFor):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("golog lab did not stop within %s of SIGTERM", waitFor)
		}
	})

	var out []labNode
	deadline := time.After(labStartWait)
	for len(out) < nodes {
		select {
		case n := <-found:
			out = append(out, n)
		case <-exited:
			t.Fatalf("golog lab exited before the cluster was up; see %s", logFile.Name())
		case <-deadline:
			t.Fatalf("golog lab did not start %d servers within %s; see %s", nodes, labStartWait, logFile.Name())
		}
	}
	return out
}

// newBrowser starts headless Chromium at path and returns a context to drive a tab
// with. The test's cleanup closes the browser.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // as root in CI; the page is our own
		chromedp.DisableGPU,
		chromedp.WindowSize(1360, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, browserTestTimeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
	})
	require.NoError(t, chromedp.Do(ctx), "start Chromium at %s", path)
	return ctx
}

// pageView is what the page shows, read from its document.
type pageView struct {
	ServedBy string     `json:"served_by"`
	Live     bool       `json:"live"`
	Servers  []cardView `json:"servers"`
	Produced string     `json:"produced"` // the offset the produce box reported
	Records  []struct {
		Offset string `json:"offset"`
		Text   string `json:"text"`     // the value as the page shows it
		Markup int    `json:"elements"` // how many elements the value holds: none, if escaped
	} `json:"records"`
	Timeline []string `json:"timeline"` // the kinds of the events shown
}

// cardView is a server's card.
type cardView struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Up      bool   `json:"up"`
	Term    uint64 `json:"term"`
	Newest  string `json:"newest"`
	Process string `json:"process"`
}

// readPage is the script that reads a pageView off the page.
const readPage = `JSON.stringify({
  served_by: document.getElementById("served-by").textContent,
  live: document.getElementById("connection").classList.contains("conn-ok"),
  servers: [...document.querySelectorAll("#servers .server")].map(c => ({
    name: c.dataset.server, role: c.dataset.role, up: c.dataset.up === "true",
    term: Number(c.dataset.term || 0), newest: c.dataset.newestOffset || "",
    process: (c.querySelector(".process") || {}).textContent || ""})),
  produced: document.getElementById("produce-result").dataset.offset || "",
  records: [...document.querySelectorAll("#records li")].map(li => ({
    offset: li.dataset.offset, text: li.querySelector(".value").textContent,
    elements: li.querySelector(".value").children.length})),
  timeline: [...document.querySelectorAll("#timeline li")].map(li => li.dataset.kind),
})`

// view reads the page; ok is false while it cannot be read (between two pages).
func view(ctx context.Context) (pageView, bool) {
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](readPage))
	if err != nil {
		return pageView{}, false
	}
	var v pageView
	return v, json.Unmarshal([]byte(raw), &v) == nil
}

// waitPage waits until the page shows what cond accepts, and returns that view. what
// says what is awaited, for the failure message, which also shows the last view.
func waitPage(t *testing.T, ctx context.Context, timeout time.Duration, what string, cond func(pageView) bool) pageView {
	t.Helper()
	var last pageView
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if v, ok := view(ctx); ok {
			last = v
			if cond(v) {
				return v
			}
		}
		select {
		case <-time.After(pagePoll):
		case <-ctx.Done():
			t.Fatalf("waiting for the page to show %s: %v", what, ctx.Err())
		}
	}
	t.Fatalf("the page did not show %s within %s; it showed: %+v", what, timeout, last)
	return last
}

// click clicks the lab button of server name for action, as a person would, and fails
// the test if the page has no such button or it is disabled. It goes through the
// page's script: the cards are drawn anew with every update, which a click by
// coordinates could fall between.
func click(t *testing.T, ctx context.Context, name, action string) {
	t.Helper()
	script := fmt.Sprintf(`(() => {
  const b = document.querySelector('[data-server=%q] button[data-action=%q]');
  if (!b || b.disabled) return false;
  b.click();
  return true;
})()`, name, action)
	require.Eventually(t, func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](script))
		return err == nil && ok
	}, electionWait, pagePoll, "the page has no enabled %q button for %s", action, name)
}

// screenshot saves the browser's view as name.png in dir.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	path := filepath.Join(dir, name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// leaderOf returns the one card that leads, and how many do.
func leaderOf(v pageView) (cardView, int) {
	var leader cardView
	n := 0
	for _, c := range v.Servers {
		if c.Role == "leader" {
			leader, n = c, n+1
		}
	}
	return leader, n
}

// TestConsoleInBrowser opens the cluster console of a lab cluster of three servers
// in headless Chromium and does what a teacher would: it sees three servers and one
// leader, kills the leader with the page's kill -9 button, sees another server lead in
// a higher term, restarts the old leader from the page, produces a record in the
// page's produce box and sees it on every server's card and in the log, shown as text
// even though it looks like markup. Screenshots are written as it goes; with -debug
// they are kept, and their paths printed.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and a cluster of three golog processes")
	}
	chromium := findChromium(t)
	clearEnv(t)
	nodes := startLab(t, 3)
	ctx := newBrowser(t, chromium)
	shots := testenv.TempDir(t)

	// The teacher opens the URL golog lab printed first: node-1's.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(nodes[0].url)))
	before := waitPage(t, ctx, electionWait, "three servers up, one leader", func(v pageView) bool {
		_, leaders := leaderOf(v)
		up := 0
		for _, c := range v.Servers {
			if c.Up {
				up++
			}
		}
		return v.Live && len(v.Servers) == 3 && up == 3 && leaders == 1
	})
	oldLeader, _ := leaderOf(before)
	t.Logf("the page shows %s leading in term %d", oldLeader.Name, oldLeader.Term)
	screenshot(t, ctx, shots, "1-cluster")

	click(t, ctx, oldLeader.Name, "kill")
	after := waitPage(t, ctx, electionWait, "a new leader in a higher term, and the old one down",
		func(v pageView) bool {
			leader, leaders := leaderOf(v)
			if leaders != 1 || leader.Name == oldLeader.Name || leader.Term <= oldLeader.Term {
				return false
			}
			for _, c := range v.Servers {
				if c.Name == oldLeader.Name {
					return !c.Up && strings.Contains(c.Process, "killed")
				}
			}
			return false
		})
	newLeader, _ := leaderOf(after)
	t.Logf("after the kill the page (served by %s) shows %s leading in term %d",
		after.ServedBy, newLeader.Name, newLeader.Term)
	require.Contains(t, after.Timeline, "vote", "the timeline shows the votes of the election")
	screenshot(t, ctx, shots, "2-leader-killed")

	click(t, ctx, oldLeader.Name, "restart")
	waitPage(t, ctx, electionWait, "the old leader back as a follower", func(v pageView) bool {
		for _, c := range v.Servers {
			if c.Name == oldLeader.Name {
				return c.Up && c.Role == "follower"
			}
		}
		return false
	})

	// A value that would be markup if the page did not escape it.
	const value = `<b id="injected">hello</b> & goodbye`
	produce := fmt.Sprintf(`(() => {
  document.getElementById("produce-value").value = %q;
  document.getElementById("produce-button").click();
  return true;
})()`, value)
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](produce))
	require.NoError(t, err)
	produced := waitPage(t, ctx, electionWait, "the produced record's offset on every server", func(v pageView) bool {
		if v.Produced == "" || len(v.Servers) != 3 {
			return false
		}
		for _, c := range v.Servers {
			if c.Newest != v.Produced {
				return false
			}
		}
		for _, r := range v.Records {
			if r.Offset == v.Produced {
				return true
			}
		}
		return false
	})
	for _, r := range produced.Records {
		if r.Offset == produced.Produced {
			require.Equal(t, value, r.Text, "the record as the page shows it")
			require.Zero(t, r.Markup, "the record's value is text, not markup")
		}
	}
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("injected") !== null`))
	require.NoError(t, err)
	require.False(t, injected, "the record's markup made it into the page")
	t.Logf("the record is at offset %s on every server", produced.Produced)
	screenshot(t, ctx, shots, "3-record-produced")
}
