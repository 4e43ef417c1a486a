package chaos_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golog/client"
	"golog/internal/testenv"
	"golog/test/history"
)

// imageUID is the user the image runs as: the data and certificate directories the
// test mounts must belong to it.
const imageUID = 65532

// dockerTimeout bounds one docker command.
const dockerTimeout = 90 * time.Second

// A cluster is golog servers in containers on a network of their own. The test process
// reaches them at their addresses on that network (a Linux host routes to its bridge
// networks), as clients on another machine would.
type cluster struct {
	t       *testing.T
	image   string
	prefix  string // of every container and network name of this run
	network string
	subnet  string // the network's first three octets: 10.x.y
	dir     string // the host directory holding certs/ and each server's data
	nodes   []*node
	formed  bool        // the servers have formed one cluster: each joins through the others
	tls     *tls.Config // the root client's
	http    *httpClient
	rec     *history.Recorder // told of every start after the first, if set

	lastStart atomic.Pointer[start] // the latest start after the first, for the workload
}

// A start is a server's start after the first: a restart, or a start after a crash.
type start struct {
	nd *node
	at time.Time
}

// A node is one server: a container, and its data directory on the host, which outlives
// the container.
type node struct {
	name  string // n1, n2, ...
	altIP string // the address it moves to (and back from) when restarted on a new address

	// ip is its address now; the workload reads it while a fault may move the server.
	ipMu      sync.Mutex
	ip        string // guarded by ipMu
	container string
	dataDir   string

	// What the test has done to it, so that healing undoes it.
	down     bool // killed or stopped
	paused   bool
	isolated bool
	cutFrom  []string // the addresses a partition cut it off from
}

func (n *node) rpcAddr() string  { return n.addr() + ":8400" }
func (n *node) httpURL() string  { return "http://" + n.addr() + ":4001" }
func (n *node) String() string   { return n.name }
func (n *node) bindAddr() string { return n.addr() + ":8401" }

// addr returns the node's IP address now.
func (n *node) addr() string {
	n.ipMu.Lock()
	defer n.ipMu.Unlock()
	return n.ip
}

// requireDocker skips the test, saying why, unless it was asked for (GOLOG_CHAOS=1, as
// make chaos sets it) and a Docker engine and the image are there.
func requireDocker(t *testing.T) string {
	t.Helper()
	if os.Getenv("GOLOG_CHAOS") != "1" {
		t.Skip("skipped: the chaos suite runs with GOLOG_CHAOS=1 (make chaos); it needs Docker and the image golog:dev")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("skipped: needs Docker: docker info: %v", err)
	}
	image := cmpOr(os.Getenv("GOLOG_IMAGE"), "golog:dev")
	if err := exec.Command("docker", "image", "inspect", image).Run(); err != nil {
		t.Fatalf("the image %s is missing: make docker builds it (docker image inspect: %v)", image, err)
	}
	return image
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// An httpClient is the test's HTTP client of the servers. A request canceled while it
// dials a paused or cut-off server leaves the dial running inside net/http's transport,
// which finishes the dials it started; the test must not end with such goroutines
// (goleak checks). So this client's transport dials with a short timeout, keeps no
// connection after a request, and close waits until every dial has ended.
type httpClient struct {
	*http.Client
	dials sync.WaitGroup
}

// dialTimeout bounds a dial to a server: a live server answers within it, on a
// private network of this machine.
const dialTimeout = time.Second

func newHTTPClient(timeout time.Duration) *httpClient {
	h := &httpClient{}
	dialer := &net.Dialer{Timeout: dialTimeout}
	h.Client = &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			h.dials.Add(1)
			defer h.dials.Done()
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	return h
}

// close waits for the dials still running; call it once no request can start.
func (h *httpClient) close() {
	h.dials.Wait()
	h.CloseIdleConnections()
}

// docker runs a docker command and returns its output.
func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// mustDocker runs a docker command and fails the test if it fails.
func (c *cluster) mustDocker(args ...string) string {
	c.t.Helper()
	out, err := docker(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// newCluster starts n servers and waits until they form one cluster with a leader.
func newCluster(t *testing.T, image string, n int, rng *rand.Rand) *cluster {
	t.Helper()
	c := &cluster{
		t:      t,
		image:  image,
		prefix: fmt.Sprintf("gologchaos-%d-%04x", os.Getpid(), rng.IntN(1<<16)),
		http:   newHTTPClient(3 * time.Second),
	}
	c.dir = testenv.TempDir(t)
	t.Cleanup(c.destroy)
	c.createNetwork(rng)
	for i := range n {
		nd := &node{
			name:    fmt.Sprintf("n%d", i+1),
			ip:      fmt.Sprintf("%s.%d", c.subnet, 10+i),
			altIP:   fmt.Sprintf("%s.%d", c.subnet, 50+i),
			dataDir: filepath.Join(c.dir, fmt.Sprintf("data-n%d", i+1)),
		}
		nd.container = c.prefix + "-" + nd.name
		c.mkdirForImage(nd.dataDir)
		c.nodes = append(c.nodes, nd)
	}
	c.makeCerts()
	for i, nd := range c.nodes {
		c.run(nd)
		if i == 0 {
			c.waitReady(nd, time.Minute)
		}
	}
	c.waitHealthy(2 * time.Minute)
	c.formed = true
	return c
}

// joinAddrs returns the gossip addresses nd joins through when it starts: none for the
// first start of the first server, which starts the cluster; the first server's for the
// others' first start; and from then on the current addresses of all the others, as an
// operator would configure them. A server that left gracefully (a restart) is removed
// from the Raft configuration and must join again to be added back.
func (c *cluster) joinAddrs(nd *node) []string {
	if !c.formed {
		if nd == c.nodes[0] {
			return nil
		}
		return []string{c.nodes[0].bindAddr()}
	}
	var addrs []string
	for _, other := range c.nodes {
		if other != nd {
			addrs = append(addrs, other.bindAddr())
		}
	}
	return addrs
}

// createNetwork makes the run's network on a /24 of 10.0.0.0/8 chosen at random,
// trying another where Docker says it overlaps one in use.
func (c *cluster) createNetwork(rng *rand.Rand) {
	c.network = c.prefix + "-net"
	var err error
	for range 20 {
		c.subnet = fmt.Sprintf("10.%d.%d", 100+rng.IntN(150), rng.IntN(256))
		if _, err = docker("network", "create", "--subnet", c.subnet+".0/24", c.network); err == nil {
			return
		}
	}
	c.t.Fatalf("create a network: %v", err)
}

func (c *cluster) mkdirForImage(dir string) {
	c.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Chown(dir, imageUID, imageUID); err != nil {
		c.t.Fatalf("the data directories must belong to the image's user %d (run as root): %v", imageUID, err)
	}
}

// makeCerts has the image make the cluster's certificates (golog certs init), valid for
// every server's address, and loads the root client's.
func (c *cluster) makeCerts() {
	dir := filepath.Join(c.dir, "certs")
	c.mkdirForImage(dir)
	args := []string{"run", "--rm", "--name", c.prefix + "-certs", "-v", dir + ":/golog/.certs", c.image,
		"certs", "init", "--dir", "/golog/.certs"}
	for _, nd := range c.nodes {
		args = append(args, "--host", nd.addr(), "--host", nd.altIP)
	}
	c.mustDocker(args...)

	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		c.t.Fatal("ca.pem holds no certificate")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "root-client.pem"), filepath.Join(dir, "root-client-key.pem"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.tls = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
}

// run creates and starts nd's container. The settings make faults show quickly: small
// segments and frequent snapshots, so that restarts cross segment boundaries and
// followers catch up from snapshots; failed servers are never removed from the
// configuration during a run.
func (c *cluster) run(nd *node) {
	c.t.Helper()
	args := []string{"run", "-d", "--name", nd.container, "--hostname", nd.name,
		"--network", c.network, "--ip", nd.addr(),
		"-v", filepath.Join(c.dir, "certs") + ":/golog/.certs:ro",
		"-v", nd.dataDir + ":/golog/data",
		"-e", "GOLOG_NODE_NAME=" + nd.name,
		"-e", "GOLOG_BIND_ADDR=" + nd.bindAddr(),
		"-e", "GOLOG_ADVERTISE_RPC_ADDR=" + nd.rpcAddr(),
		"-e", "GOLOG_HTTP_ADDR=0.0.0.0:4001",
		"-e", "GOLOG_HTTP_ALLOW_REMOTE=true",
		"-e", "GOLOG_REMOVE_FAILED_AFTER=1h",
		"-e", "GOLOG_SEGMENT_MAX_STORE_BYTES=32KiB",
		"-e", "GOLOG_SNAPSHOT_THRESHOLD=300",
		"-e", "GOLOG_SNAPSHOT_INTERVAL=2s",
		"-e", "GOLOG_LOG_LEVEL=" + cmpOr(os.Getenv("GOLOG_CHAOS_LOG_LEVEL"), "info"),
	}
	if join := c.joinAddrs(nd); len(join) > 0 {
		args = append(args, "-e", "GOLOG_JOIN="+strings.Join(join, ","))
	}
	args = append(args, c.image)
	c.mustDocker(args...)
}

// start starts nd again with its data: a new container (joining through the others)
// on the same data directory and address. The recorder learns of it before the server
// starts: from then on its local reads are held to every earlier acknowledgement.
func (c *cluster) start(nd *node) error {
	if _, err := docker("rm", "-f", nd.container); err != nil {
		return err
	}
	if c.rec != nil {
		c.rec.Started(nd.name)
	}
	c.lastStart.Store(&start{nd: nd, at: time.Now()})
	c.run(nd)
	nd.down = false
	return nil
}

// destroy removes every container and the network of the run.
func (c *cluster) destroy() {
	c.http.close()
	for _, nd := range c.nodes {
		if nd.paused {
			docker("unpause", nd.container)
		}
		if _, err := docker("rm", "-f", "-v", nd.container); err != nil {
			c.t.Logf("cleanup: %v", err)
		}
	}
	if c.network != "" {
		if _, err := docker("network", "rm", c.network); err != nil {
			c.t.Logf("cleanup: %v", err)
		}
	}
}

// readyz asks nd's /readyz and returns the leader it names, or an error.
func (c *cluster) readyz(ctx context.Context, nd *node) (leader string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, nd.httpURL()+"/readyz", nil)
	if err != nil {
		return "", err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Leader string `json:"leader"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("readyz of %s: %w", nd, err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("readyz of %s: %d %s", nd, res.StatusCode, body.Status)
	}
	return body.Leader, nil
}

// waitReady waits until nd answers /readyz with 200.
func (c *cluster) waitReady(nd *node, timeout time.Duration) {
	c.t.Helper()
	if err := c.poll(timeout, func(ctx context.Context) error {
		_, err := c.readyz(ctx, nd)
		return err
	}); err != nil {
		c.t.Fatalf("%s not ready after %v: %v\n%s", nd, timeout, err, c.keepLogs())
	}
}

// keepLogs saves every container's log for a failure report and says where, with the
// end of each.
func (c *cluster) keepLogs() string {
	var b strings.Builder
	for _, nd := range c.nodes {
		b.WriteString(c.logsTail(nd))
	}
	dir := filepath.Join(cmpOr(os.Getenv("GOLOG_CHAOS_OUT"), os.TempDir()), c.prefix)
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if err := c.saveLogs(dir); err == nil {
			fmt.Fprintf(&b, "the servers' whole logs are in %s\n", dir)
		}
	}
	return b.String()
}

// poll calls try every 200ms until it succeeds or timeout passes, and returns its last
// error then.
func (c *cluster) poll(timeout time.Duration, try func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Second)
		err := try(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-tick.C:
		case <-c.t.Context().Done():
			return c.t.Context().Err()
		}
	}
}

// leader returns the server most of the reachable servers name as the leader, or nil.
func (c *cluster) leader() *node {
	votes := map[string]int{}
	for _, nd := range c.nodes {
		if nd.down || nd.paused || nd.isolated || nd.cutFrom != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(c.t.Context(), time.Second)
		l, err := c.readyz(ctx, nd)
		cancel()
		if err == nil && l != "" {
			votes[l]++
		}
	}
	best, most := "", 0
	for name, n := range votes {
		if n > most {
			best, most = name, n
		}
	}
	for _, nd := range c.nodes {
		if nd.name == best {
			return nd
		}
	}
	return nil
}

// waitHealthy waits until every server is ready, they agree on one leader, and each
// has applied everything the leader has committed.
func (c *cluster) waitHealthy(timeout time.Duration) {
	c.t.Helper()
	cl := c.client()
	defer cl.Close()
	err := c.poll(timeout, func(ctx context.Context) error {
		status, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		return converged(status, len(c.nodes))
	})
	if err != nil {
		c.t.Fatalf("the cluster did not heal within %v: %v\n%s", timeout, err, c.keepLogs())
	}
}

// converged says why the servers' statuses do not show a healed cluster of n servers,
// or nil if they do.
func converged(status []client.ServerStatus, n int) error {
	if len(status) != n {
		return fmt.Errorf("%d servers known, want %d", len(status), n)
	}
	var leaders []string
	for _, s := range status {
		if s.Err != nil {
			return fmt.Errorf("%s: %w", s.ID, s.Err)
		}
		if !s.Ready {
			return fmt.Errorf("%s is not ready", s.ID)
		}
		leaders = append(leaders, s.LeaderID)
		if s.State == "Leader" && s.AppliedIndex < s.CommitIndex {
			return fmt.Errorf("the leader %s has applied %d of %d", s.ID, s.AppliedIndex, s.CommitIndex)
		}
	}
	slices.Sort(leaders)
	if leaders[0] == "" || leaders[0] != leaders[len(leaders)-1] {
		return fmt.Errorf("the servers name leaders %v", leaders)
	}
	for _, s := range status[1:] {
		if s.AppliedIndex != status[0].AppliedIndex || s.NextOffset != status[0].NextOffset {
			return fmt.Errorf("%s applied %d (next offset %d), %s applied %d (next offset %d)",
				status[0].ID, status[0].AppliedIndex, status[0].NextOffset, s.ID, s.AppliedIndex, s.NextOffset)
		}
	}
	return nil
}

// client returns a new client of the cluster, seeded with every server's address.
func (c *cluster) client() *client.Client {
	c.t.Helper()
	var addrs []string
	for _, nd := range c.nodes {
		addrs = append(addrs, nd.rpcAddr())
	}
	cl, err := client.New(c.t.Context(), client.Config{
		Addrs:           addrs,
		TLS:             c.tls,
		RefreshInterval: 500 * time.Millisecond,
		Retry:           client.RetryPolicy{MaxAttempts: 20, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
	})
	if err != nil {
		c.t.Fatalf("connect to the cluster: %v", err)
	}
	return cl
}

// logsTail returns the last lines nd's container logged.
func (c *cluster) logsTail(nd *node) string {
	out, err := docker("logs", "--tail", "40", nd.container)
	if err != nil {
		return fmt.Sprintf("--- %s: %v\n", nd, err)
	}
	return fmt.Sprintf("--- %s, last lines:\n%s\n", nd, out)
}

// saveLogs writes every container's whole log into dir.
func (c *cluster) saveLogs(dir string) error {
	var errs []error
	for _, nd := range c.nodes {
		out, err := docker("logs", nd.container)
		errs = append(errs, err, os.WriteFile(filepath.Join(dir, nd.name+".log"), []byte(out), 0o644))
	}
	return errors.Join(errs...)
}
