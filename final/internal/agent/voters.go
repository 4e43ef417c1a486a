package agent

import (
	"cmp"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"

	"golog/internal/discovery"
	"golog/internal/consensus"
)

// reconcileInterval is how often the leader compares the Raft configuration with the
// gossip membership, besides when it becomes leader. It repairs a change that failed
// (a Join that timed out is not retried by gossip: the event is gone).
const reconcileInterval = 10 * time.Second

// raftCluster is what voters needs from the replicated log; *consensus.DistributedLog is one.
type raftCluster interface {
	Join(id, addr string) error
	Leave(id string) error
	GetServers() ([]*consensus.Server, error)
}

var _ raftCluster = (*consensus.DistributedLog)(nil)

// voters keeps the Raft configuration (who votes, and so who holds the log) in step
// with the gossip membership (who is up): a server that joins the gossip cluster is
// added as a voter, one that leaves or fails is removed.
//
// Only the leader can change the configuration, and every server hears the same gossip
// events: the leader acts on them, the others ignore them. Two cases escape that rule,
// and reconcile covers them when a server becomes leader. Events that arrive while
// there is no leader (during an election) are ignored by everyone. And when the leader
// itself leaves or fails, no leader hears its own event.
//
// As a discovery.Handler, voters is called from the gossip event loop, one event at a
// time. Its methods are safe for concurrent use: mu makes a reconcile and an event wait
// for each other, so neither acts on a view of the cluster that the other is changing.
type voters struct {
	log    raftCluster
	self   string // this server's name, in gossip and in Raft
	logger *slog.Logger
	// members returns the gossip members (discovery.Membership.Members). Set once,
	// before the first reconcile; events do not use it.
	members func() []serf.Member

	mu sync.Mutex // serializes changes to the configuration
}

var _ discovery.Handler = (*voters)(nil)

// Join adds the server name, reachable at addr, as a voter, if this server leads.
func (v *voters) Join(name, addr string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.join(name, addr)
}

// Leave removes the server name from the configuration, if this server leads.
func (v *voters) Leave(name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.leave(name)
}

// join does Join; the caller holds mu. A follower does nothing: consensus.ErrNotLeader is
// expected there, and also on a leader that has just lost its leadership.
func (v *voters) join(name, addr string) error {
	err := v.consensus.Join(name, addr)
	if _, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		v.logger.Debug("not the leader: the leader adds the server", "peer", name, "addr", addr)
		return nil
	}
	return err
}

// leave does Leave; the caller holds mu. Like join, it does nothing on a follower.
func (v *voters) leave(name string) error {
	err := v.consensus.Leave(name)
	if _, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		v.logger.Debug("not the leader: the leader removes the server", "peer", name)
		return nil
	}
	return err
}

// reconcile makes the configuration match the gossip membership (see plan), if this
// server leads. It returns the errors of the changes that failed; the others are
// made all the same.
func (v *voters) reconcile() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	servers, err := v.consensus.GetServers()
	if err != nil {
		return err
	}
	// Read under mu: an event that changed the membership after this snapshot waits
	// for us, and its Join or Leave runs after our changes. Serf buffers its events
	// (discovery's buffer and its own), so Members does not wait for the event loop.
	joins, leaves := plan(v.self, v.members(), servers)
	var errs []error
	// Removals first: a voter that is gone counts towards the quorum that every later
	// change must reach.
	for _, name := range leaves {
		v.logger.Info("reconcile: removing a server that is no longer a member", "peer", name)
		errs = append(errs, v.leave(name))
	}
	for _, p := range joins {
		v.logger.Info("reconcile: adding a member that is not a voter", "peer", p.name, "addr", p.addr)
		errs = append(errs, v.join(p.name, p.addr))
	}
	return errors.Join(errs...)
}

// leaveIfLeader removes this server from the configuration if it leads a cluster that
// has other voters; it then steps down, and the others elect a leader in a
// configuration without it. Were it to stay in, the quorum would still count it: the
// one server left of a cluster of two could never win a majority, and so never remove
// it. A server alone stays: removing the only voter would leave a cluster that can
// never elect a leader again. Errors are only logged: if the removal fails, the next
// leader removes this server when gossip says it has left.
func (v *voters) leaveIfLeader() {
	v.mu.Lock()
	defer v.mu.Unlock()
	servers, err := v.consensus.GetServers()
	if err != nil || len(servers) < 2 {
		return
	}
	for _, s := range servers {
		if s.ID == v.self && s.IsLeader {
			v.logger.Info("leaving the Raft configuration before shutting down, so that another server leads")
			if err := v.leave(v.self); err != nil {
				v.logger.Warn("could not leave the Raft configuration", "err", err)
			}
			return
		}
	}
}

// peer is a server to add: its name and RPC address.
type peer struct{ name, addr string }

// plan compares the gossip members with the servers of the Raft configuration and
// returns the changes that make the configuration follow gossip, sorted by name:
//
//   - joins: every live member (except self) that is not a voter at the address it
//     gossips (Join updates the address of a server that moved);
//   - leaves: every server (except self) whose member has left or failed, or that
//     gossip does not know at all: it was reaped, or it left before this server
//     joined. (Or gossip has not heard of it yet, as when a whole cluster restarts;
//     its join event then adds it back.)
//
// A member that is leaving is neither: its leave event follows.
func plan(self string, members []serf.Member, servers []*consensus.Server) (joins []peer, leaves []string) {
	configured := make(map[string]string, len(servers)) // name -> RPC address
	for _, s := range servers {
		configured[s.ID] = s.RPCAddr
	}
	known := make(map[string]bool, len(members))
	for _, m := range members {
		known[m.Name] = true
		if m.Name == self {
			continue
		}
		addr, inConfig := configured[m.Name]
		switch m.Status {
		case serf.StatusAlive:
			rpcAddr := m.Tags[discovery.RPCAddrTag]
			if rpcAddr != "" && (!inConfig || addr != rpcAddr) {
				joins = append(joins, peer{name: m.Name, addr: rpcAddr})
			}
		case serf.StatusLeft, serf.StatusFailed:
			if inConfig {
				leaves = append(leaves, m.Name)
			}
		}
	}
	for name := range configured {
		if name != self && !known[name] {
			leaves = append(leaves, name)
		}
	}
	slices.SortFunc(joins, func(a, b peer) int { return cmp.Compare(a.name, b.name) })
	slices.Sort(leaves)
	return joins, leaves
}
