package agent_test

import (
	"sync"
	"testing"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"

	"golog/internal/agent"
	"golog/internal/consensus"
	"golog/internal/lab"
	"golog/internal/testenv"
)

// A partition cuts servers of a test cluster off from the others, in-process, and
// heals them: each server talks to the others through a lab.Link (the one lab mode
// uses), which blocks its gossip, both ways, and its Raft connections, both ways, while
// it is cut. gRPC on the RPC port is left alone, so the test's own clients still reach
// a server that is cut off: the test watches it from outside the cluster. Two servers
// that are both cut off cannot reach each other either: each is alone.
type partition struct {
	t *testing.T

	mu    sync.Mutex
	links map[string]*lab.Link // by server name; guarded by mu
}

func newPartition(t *testing.T) *partition {
	return &partition{t: t, links: make(map[string]*lab.Link)}
}

// attach makes the server nd, about to start with cfg, talk to the others through its
// link. Use it as cluster.configure.
func (p *partition) attach(nd *node, cfg *agent.Config) {
	l := p.link(nd.name)
	cfg.RPCListener = l.Listener(cfg.RPCListener)
	cfg.RaftDial = l.DialRaft
	tune := cfg.Tune
	bindAddr := cfg.BindAddr
	logger := testenv.Logger(p.t)
	cfg.Tune = func(sc *serf.Config) {
		if tune != nil {
			tune(sc)
		}
		tr, err := l.NewGossipTransport(bindAddr, logger)
		require.NoError(p.t, err)
		sc.MemberlistConfig.Transport = tr // memberlist shuts it down
	}
}

// link returns the link of the server called name.
func (p *partition) link(name string) *lab.Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.links[name]
	if !ok {
		l = lab.NewLink(consensus.RaftRPC)
		p.links[name] = l
	}
	return l
}

// Cut cuts nd off from the other servers until Heal.
func (p *partition) Cut(nd *node) {
	p.t.Helper()
	p.t.Logf("partition: %s is cut off", nd.name)
	p.link(nd.name).Cut()
}

// Heal lets nd talk to the others again.
func (p *partition) Heal(nd *node) {
	p.t.Helper()
	p.t.Logf("partition: %s is back", nd.name)
	p.link(nd.name).Heal()
}
