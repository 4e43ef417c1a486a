// The tour of chapter 05: servers find each other by gossip.
//
//	go test -v -debug=true
package golog_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"

	"golog/internal/discovery"
	"golog/internal/testenv"
)

// events is a discovery.Handler that keeps what it is told, and narrates it while
// narrate is set.
type events struct {
	t       *testing.T
	name    string
	mu      sync.Mutex
	narrate bool     // guarded by mu
	seen    []string // guarded by mu
}

func (e *events) Join(name, addr string) error {
	e.record(fmt.Sprintf("join %s (rpc %s)", name, addr))
	return nil
}

func (e *events) Leave(name string) error {
	e.record("leave " + name)
	return nil
}

func (e *events) record(event string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.narrate && (len(e.seen) == 0 || e.seen[len(e.seen)-1] != event) {
		e.t.Logf("%s's handler: %s", e.name, event)
	}
	e.seen = append(e.seen, event)
}

// quiet stops the narration: what the handler is told while the members shut down
// depends on timing.
func (e *events) quiet() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.narrate = false
}

func (e *events) has(event string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.seen {
		if s == event {
			return true
		}
	}
	return false
}

func TestTour(t *testing.T) {
	label := fmt.Sprintf("%s/%d", t.Name(), os.Getpid()) // keeps other tests' gossip out
	start := func(name string, handler *events, seeds ...string) *discovery.Membership {
		m, err := discovery.New(handler, discovery.Config{
			NodeName:       name,
			BindAddr:       "127.0.0.1:0",
			Tags:           map[string]string{discovery.RPCAddrTag: name + ".example:8400"},
			StartJoinAddrs: seeds,
			Logger:         testenv.Logger(t),
			Tune: func(c *serf.Config) {
				c.MemberlistConfig.GossipInterval = 10 * time.Millisecond
				c.MemberlistConfig.ProbeInterval = 100 * time.Millisecond
				c.MemberlistConfig.ProbeTimeout = 50 * time.Millisecond
				c.MemberlistConfig.SuspicionMult = 10
				c.LeavePropagateDelay = 50 * time.Millisecond
				c.MemberlistConfig.Label = label
			},
		})
		require.NoError(t, err)
		t.Logf("%s gossips on %s", name, m.BindAddr())
		return m
	}

	// a's handler tells the story; b's and c's are told the same, in their own order.
	first := &events{t: t, name: "a", narrate: true}
	a := start("a", first)
	t.Cleanup(func() { require.NoError(t, a.Leave()) })
	b := start("b", &events{t: t, name: "b"}, a.BindAddr())
	t.Cleanup(func() { require.NoError(t, b.Leave()) })
	c := start("c", &events{t: t, name: "c"}, a.BindAddr())

	require.Eventually(t, func() bool {
		return first.has("join b (rpc b.example:8400)") && first.has("join c (rpc c.example:8400)")
	}, 10*time.Second, 10*time.Millisecond)
	t.Log("a knows b and c, and where their RPC servers listen: the tags travel with the gossip")

	t.Log("c leaves gracefully")
	require.NoError(t, c.Leave())
	require.Eventually(t, func() bool { return first.has("leave c") }, 10*time.Second, 10*time.Millisecond)
	t.Log("a was told: its handler would now stop replicating from c")
	first.quiet()
}
