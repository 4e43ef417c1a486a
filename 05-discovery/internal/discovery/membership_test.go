package discovery_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golog/internal/discovery"
	"golog/internal/testenv"
)

// fastGossip tunes Serf and memberlist for a few members on the loopback interface,
// where a round trip takes microseconds. With these timers a crashed member is
// declared failed within about a second and a half instead of six, and Leave returns
// within a fraction of a second. They are not tighter because a live member must
// never look dead: under -race on a busy machine a goroutine can wait hundreds of
// milliseconds to run, and a false failure shows up in the tests as an extra Leave
// and Join.
func fastGossip(c *serf.Config) {
	ml := c.MemberlistConfig
	ml.GossipInterval = 10 * time.Millisecond // default: 200ms
	ml.ProbeInterval = 100 * time.Millisecond // default: 1s
	ml.ProbeTimeout = 50 * time.Millisecond   // default: 500ms
	ml.TCPTimeout = 500 * time.Millisecond    // default: 10s; bounds joins and fallback probes
	// A suspect has SuspicionMult × ProbeInterval (here 1s) to refute the suspicion.
	// In clusters of up to four members that is all it gets (more members can make it
	// longer while they confirm the suspicion; MaxTimeoutMult 1 turns that off).
	ml.SuspicionMult = 10                         // default: 4
	ml.SuspicionMaxTimeoutMult = 1                // default: 6
	c.LeavePropagateDelay = 50 * time.Millisecond // default: 1s
	c.BroadcastTimeout = time.Second              // default: 5s
}

// call is one call on a recorder.
type call struct {
	Op   string // "join" or "leave"
	Name string
	Addr string // RPC address; joins only
}

func join(name string) call  { return call{Op: "join", Name: name, Addr: rpcAddr(name)} }
func leave(name string) call { return call{Op: "leave", Name: name} }

// recorder is a Handler that remembers its calls and returns err from each of them.
type recorder struct {
	err error // set before the Membership starts, read-only after

	mu    sync.Mutex
	calls []call // guarded by mu
}

var _ discovery.Handler = (*recorder)(nil)

func (r *recorder) Join(name, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{Op: "join", Name: name, Addr: addr})
	return r.err
}

func (r *recorder) Leave(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{Op: "leave", Name: name})
	return r.err
}

// Calls returns a copy of the calls so far, oldest first.
func (r *recorder) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// node is a member under test together with the handler that records its events.
type node struct {
	*discovery.Membership
	handler *recorder
}

// rpcAddr is the RPC address that member name gossips in its tags. Nothing in this
// package dials it, so it need not exist (.invalid is a reserved top-level domain).
func rpcAddr(name string) string { return name + ".rpc.invalid:8400" }

// testConfig is a valid config for a member called name on a free loopback port
// that joins the cluster through seeds, with fastGossip timers.
//
// It also labels the test's cluster. Other test processes (other packages, or other
// runs of this one) may run Serf clusters on this machine at the same time, and a
// port freed by one process can be bound again by another. A node could then inherit
// the port of another cluster's crashed node, which that cluster still probes and
// gossips to. memberlist drops every packet and stream whose label differs from its own.
func testConfig(t *testing.T, name string, seeds ...string) discovery.Config {
	label := fmt.Sprintf("%s/%d", t.Name(), os.Getpid())
	return discovery.Config{
		NodeName:       name,
		BindAddr:       "127.0.0.1:0", // memberlist binds a free port
		Tags:           map[string]string{discovery.RPCAddrTag: rpcAddr(name)},
		StartJoinAddrs: seeds,
		Logger:         testenv.Logger(t),
		Tune: func(c *serf.Config) {
			fastGossip(c)
			c.MemberlistConfig.Label = label
		},
	}
}

// withTune returns config with more applied after its Tune.
func withTune(config discovery.Config, more func(*serf.Config)) discovery.Config {
	base := config.Tune
	config.Tune = func(c *serf.Config) {
		base(c)
		more(c)
	}
	return config
}

// start starts a member and makes it leave when the test ends.
func start(t *testing.T, h *recorder, config discovery.Config) *node {
	t.Helper()
	m, err := discovery.New(h, config)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Leave(), "Leave %s", config.NodeName) })
	return &node{Membership: m, handler: h}
}

// startCluster starts members a, b and c with b and c joining through a, and waits
// until every member sees all three alive and its handler has been told of the other
// two. tune, if not nil, is applied to each member's config after testConfig's.
func startCluster(t *testing.T, tune func(*serf.Config)) map[string]*node {
	t.Helper()
	nodes := make(map[string]*node)
	var seed string
	for _, name := range []string{"a", "b", "c"} {
		config := testConfig(t, name)
		if tune != nil {
			config = withTune(config, tune)
		}
		if seed != "" {
			config.StartJoinAddrs = []string{seed}
		}
		nodes[name] = start(t, &recorder{}, config)
		if seed == "" {
			seed = nodes[name].BindAddr()
		}
	}
	all := map[string]serf.MemberStatus{"a": serf.StatusAlive, "b": serf.StatusAlive, "c": serf.StatusAlive}
	for name, n := range nodes {
		var others []call
		for other := range nodes {
			if other != name {
				others = append(others, join(other))
			}
		}
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			require.Equal(c, all, statuses(n))
			require.ElementsMatch(c, others, n.handler.Calls())
		}, testenv.WaitFor, testenv.Tick, "member %s never saw the cluster", name)
	}
	return nodes
}

// statuses returns the status of every member n knows, by name. Members() comes in
// random order, so tests never index into it.
func statuses(n *node) map[string]serf.MemberStatus {
	s := make(map[string]serf.MemberStatus)
	for _, m := range n.Members() {
		s[m.Name] = m.Status
	}
	return s
}

// member returns the member called name as n sees it.
func member(n *node, name string) (serf.Member, bool) {
	for _, m := range n.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return serf.Member{}, false
}

func TestMembersFindEachOther(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, nil)

	for name, n := range nodes {
		host, port, err := net.SplitHostPort(n.BindAddr())
		require.NoError(t, err)
		require.Equal(t, "127.0.0.1", host)
		require.NotEqual(t, "0", port, "BindAddr of %s should show the port memberlist bound", name)
		// Every other member knows n at that address.
		for other := range nodes {
			m, ok := member(nodes[other], name)
			require.True(t, ok, "%s does not know %s", other, name)
			require.Equal(t, n.BindAddr(), net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
				"%s's address for %s", other, name)
		}
	}
	// The seed's handler was told of exactly the two others, with the RPC addresses
	// from their tags, and never of its own join.
	require.ElementsMatch(t, []call{join("b"), join("c")}, nodes["a"].handler.Calls())
}

func TestLeaveIsReportedToOthers(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, nil)

	require.NoError(t, nodes["c"].Leave())
	require.NoError(t, nodes["c"].Leave(), "second Leave")

	for _, name := range []string{"a", "b"} {
		n := nodes[name]
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			require.Equal(c, serf.StatusLeft, statuses(n)["c"])
			require.Contains(c, n.handler.Calls(), leave("c"))
		}, testenv.WaitFor, testenv.Tick, "%s never saw c leave", name)
	}
	// c's handler is not told of c's own leave: it saw the two others join, nothing more.
	require.ElementsMatch(t, []call{join("a"), join("b")}, nodes["c"].handler.Calls())
}

func TestCrashIsReportedAsLeave(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, nil)

	// c stops without a word, as if its process were killed. The others find out by
	// probing it: no ack, no ack through the other member, suspicion, then dead.
	require.NoError(t, nodes["c"].Crash())

	for _, name := range []string{"a", "b"} {
		n := nodes[name]
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			require.Equal(c, serf.StatusFailed, statuses(n)["c"])
			require.Contains(c, n.handler.Calls(), leave("c"))
		}, testenv.WaitFor, testenv.Tick, "%s never noticed that c crashed", name)
	}
}

func TestFailedMemberIsReaped(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, func(c *serf.Config) {
		c.ReapInterval = 50 * time.Millisecond // default: 15s
		c.ReconnectTimeout = time.Millisecond  // default: 24h; how long a failed member is kept
	})

	require.NoError(t, nodes["c"].Crash())

	// Failed, then reaped: Leave is called twice, and c is gone from the member list.
	a := nodes["a"]
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.NotContains(c, statuses(a), "c")
		require.Equal(c, []call{join("b"), join("c"), leave("c"), leave("c")}, sortJoins(a.handler.Calls()))
	}, testenv.WaitFor, testenv.Tick, "a never reaped c")
}

// sortJoins orders the leading joins by name; they may arrive in either order.
func sortJoins(calls []call) []call {
	n := 0
	for n < len(calls) && calls[n].Op == "join" {
		n++
	}
	slices.SortFunc(calls[:n], func(x, y call) int { return cmp.Compare(x.Name, y.Name) })
	return calls
}

func TestDuplicateNameLoses(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, nil)

	// A second "b" at another address, with another RPC address.
	var logs syncBuffer
	config := withTune(testConfig(t, "b", nodes["a"].BindAddr()), func(c *serf.Config) {
		// The newcomer usually hears of the first b at once, when it joins. But if
		// the first b is suspected just then, the newcomer takes the suspicion as
		// being about itself and refutes it, and hears b's address only at its next
		// full state sync with a member.
		c.MemberlistConfig.PushPullInterval = 100 * time.Millisecond // default: 30s
	})
	config.Tags[discovery.RPCAddrTag] = "impostor.rpc.invalid:8400"
	config.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start(t, &recorder{}, config) // New cannot know yet: it succeeds.

	// Serf notices the conflict, the others vote for the first "b", and the newcomer
	// shuts itself down and says so.
	require.Eventually(t, func() bool {
		return bytes.Contains(logs.Bytes(), []byte(`level=ERROR msg="serf shut down on its own`))
	}, testenv.WaitFor, testenv.Tick, "the second b did not stop; logs:\n%s", &logs)

	// The first "b" keeps its name and its address everywhere.
	for _, name := range []string{"a", "c"} {
		b, ok := member(nodes[name], "b")
		require.True(t, ok, "%s does not know b", name)
		require.Equal(t, nodes["b"].BindAddr(), net.JoinHostPort(b.Addr.String(), strconv.Itoa(int(b.Port))),
			"%s's address for b", name)
		require.Equal(t, rpcAddr("b"), b.Tags[discovery.RPCAddrTag], "%s's RPC address for b", name)
		require.NotContains(t, nodes[name].handler.Calls(), call{Op: "join", Name: "b", Addr: "impostor.rpc.invalid:8400"})
	}
	require.Equal(t, serf.StatusAlive, statuses(nodes["a"])["b"])
}

func TestJoinUnreachableSeed(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: bind it, then release it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	seed := l.Addr().String()
	require.NoError(t, l.Close())

	_, err = discovery.New(&recorder{}, testConfig(t, "a", seed))
	require.ErrorContains(t, err, "join cluster via "+seed)
	// New stopped the node it had started: the leak check in TestMain would fail otherwise.
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler discovery.Handler
		change  func(*discovery.Config)
		wantErr string
	}{
		{"nil handler", nil, func(*discovery.Config) {}, "nil Handler"},
		{"no node name", &recorder{}, func(c *discovery.Config) { c.NodeName = "" }, "NodeName is empty"},
		{"bad node name", &recorder{}, func(c *discovery.Config) { c.NodeName = "node a" }, "invalid characters"},
		{"no rpc_addr tag", &recorder{}, func(c *discovery.Config) { c.Tags = nil }, `no "rpc_addr" tag`},
		{"tags too large", &recorder{}, func(c *discovery.Config) { c.Tags["note"] = strings.Repeat("x", 512) }, "exceeds limit of 512 bytes"},
		{"host name", &recorder{}, func(c *discovery.Config) { c.BindAddr = "localhost:0" }, "not an IP address"},
		{"no port", &recorder{}, func(c *discovery.Config) { c.BindAddr = "127.0.0.1" }, "missing port"},
		{"bad port", &recorder{}, func(c *discovery.Config) { c.BindAddr = "127.0.0.1:70000" }, "bad port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := testConfig(t, "a")
			tt.change(&config)
			m, err := discovery.New(tt.handler, config)
			require.ErrorContains(t, err, tt.wantErr)
			require.Nil(t, m)
		})
	}
}

func TestHandlerErrorsAreLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	config := testConfig(t, "a")
	config.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a := start(t, &recorder{err: errors.New("replicator is closed")}, config)
	start(t, &recorder{}, testConfig(t, "b", a.BindAddr()))

	require.Eventually(t, func() bool {
		return bytes.Contains(logs.Bytes(),
			[]byte(`level=ERROR msg="handler failed on join" node=a peer=b addr=b.rpc.invalid:8400 err="replicator is closed"`))
	}, testenv.WaitFor, testenv.Tick, "a did not log its handler's error; logs:\n%s", &logs)
}

// syncBuffer is a bytes.Buffer that Serf's goroutines can write to while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what has been written so far.
func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *syncBuffer) String() string { return string(b.Bytes()) }
