package agent

import (
	"cmp"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"

	"golog/internal/consensus"
	"golog/internal/discovery"
)

// reconcileInterval is how often the leader compares the Raft configuration with the
// gossip membership, besides when it becomes leader, when gossip reports a failure, and
// when a failed server is due for removal. It repairs a change that failed (a Join that
// timed out is not retried by gossip: the event is gone).
const reconcileInterval = 10 * time.Second

// DefaultRemoveFailedAfter is Config.RemoveFailedAfter's default: how long a server
// must stay failed, as the leader sees it, before the leader removes it from the Raft
// configuration.
//
// It is generous on purpose, because removing a failed voter early buys nothing and
// can cost a vote. In a cluster of odd size it restores no fault tolerance: three
// servers with one failed tolerate no further fault, and neither do the two left after
// its removal. And a server that comes back counts again only once it has been added
// again, which takes a change the others must commit: if one of them fails first, the
// cluster stops although a majority of its servers are up. So the delay outlasts what
// usually heals by itself: the failure detection (seconds), a network partition, a long
// pause, a restart or an upgrade of the server, a reboot of its machine (a few
// minutes). What the removal is for is a server gone for good, such as a machine
// replaced by one with another name, which then no longer counts towards the quorum.
const DefaultRemoveFailedAfter = 5 * time.Minute

// raftCluster is what voters needs from the replicated log; *consensus.DistributedLog is one.
type raftCluster interface {
	Join(id, addr string) error
	Leave(id string) error
	GetServers() ([]*consensus.Server, error)
}

var _ raftCluster = (*consensus.DistributedLog)(nil)

// voters keeps the Raft configuration (who votes, and so who holds the log) in step
// with the gossip membership (who is up), without letting a fault cost a vote:
//
//   - A server that joins the gossip cluster, or comes back to it, is added as a voter
//     at once.
//   - A server that leaves gracefully is removed at once: it said it was going.
//   - A server that fails, or that gossip no longer knows (reaped, or never heard of
//     since this server started), is removed only when removeFailed allows it: after
//     it has stayed failed for removeFailedAfter as the leader sees it, and only if the
//     servers that remain still make a quorum of healthy voters.
//
// A failure is kept apart from a leave because most failures heal: a partition, a
// pause, a restart. Were a failed voter removed at once, the cluster would run with one
// voter fewer until it came back and was added again, and one more fault in that window
// would stop it although a majority of its servers were up.
//
// Only the leader can change the configuration, and every server hears the same gossip
// events: the leader acts on them, the others ignore them. Two cases escape that rule,
// and reconcile covers them when a server becomes leader. Events that arrive while
// there is no leader (during an election) are ignored by everyone. And when the leader
// itself leaves or fails, no leader hears its own event.
//
// As a discovery.Handler, voters is called from the gossip event loop, one event at a
// time; run calls reconcile from its own goroutine. Its methods are safe for concurrent
// use: mu makes a reconcile and an event wait for each other, so neither acts on a view
// of the cluster that the other is changing.
type voters struct {
	log    raftCluster
	self   string // this server's name, in gossip and in Raft
	logger *slog.Logger
	// members returns the gossip members as this server sees them
	// (discovery.Membership.Members). Set once, before run starts.
	members func() []serf.Member
	// removeFailedAfter is how long a voter must stay failed before it is removed.
	removeFailedAfter time.Duration
	now               func() time.Time // the clock: time.Now, or a fake in tests

	kick chan struct{} // capacity 1: asks run for a reconcile soon

	mu      sync.Mutex // serializes changes to the configuration; guards the fields below
	leading bool       // whether run was last told that this server leads
	// failedSince holds, for each voter this server has seen failed during its current
	// leadership, when it first saw it so. Cleared when a leadership starts or ends,
	// so a failure noticed before this server led, or while it led before, never
	// counts towards removeFailedAfter.
	failedSince map[string]time.Time
}

var _ discovery.Handler = (*voters)(nil)

// newVoters returns the voters of the server self, which removes a failed voter once it
// has been failed for removeFailedAfter. Set members before calling run.
func newVoters(cluster raftCluster, self string, removeFailedAfter time.Duration, logger *slog.Logger) *voters {
	return &voters{
		log:               cluster,
		self:              self,
		logger:            logger,
		removeFailedAfter: removeFailedAfter,
		now:               time.Now,
		kick:              make(chan struct{}, 1),
	}
}

// Join adds the server name, reachable at addr, as a voter, if this server leads. A
// server that was failed is not any more: its failure clock stops.
func (v *voters) Join(name, addr string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.failedSince, name)
	return v.join(name, addr)
}

// Leave removes the server name from the configuration at once, if this server leads:
// the server left gracefully.
func (v *voters) Leave(name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.failedSince, name)
	return v.leave(name)
}

// Failed removes nothing: it asks run for a prompt reconcile, which starts the failure
// clock of the server on the leader (see voters). It never fails.
func (v *voters) Failed(string) error {
	v.requestReconcile()
	return nil
}

// requestReconcile asks run for a reconcile soon, without waiting.
func (v *voters) requestReconcile() {
	select {
	case v.kick <- struct{}{}:
	default: // one is already asked for
	}
}

// join does Join; the caller holds mu. A follower does nothing: consensus.ErrNotLeader is
// expected there, and also on a leader that has just lost its leadership.
func (v *voters) join(name, addr string) error {
	err := v.log.Join(name, addr)
	if _, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		v.logger.Debug("not the leader: the leader adds the server", "peer", name, "addr", addr)
		return nil
	}
	return err
}

// leave does Leave; the caller holds mu. Like join, it does nothing on a follower.
func (v *voters) leave(name string) error {
	err := v.log.Leave(name)
	if _, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		v.logger.Debug("not the leader: the leader removes the server", "peer", name)
		return nil
	}
	return err
}

// run reconciles the configuration with the gossip membership (see reconcile) while
// this server leads: when it becomes leader, when an event asks for it
// (requestReconcile), when a failed voter is due for removal, and every
// reconcileInterval. changes tells it when this server becomes leader (true) and stops
// being leader (false), as consensus.DistributedLog.LeadershipChanges does; every true starts
// a new leadership. run returns when stop is closed.
func (v *voters) run(changes <-chan bool, stop <-chan struct{}) {
	ticker := time.NewTicker(reconcileInterval)
	defer ticker.Stop()
	var due <-chan time.Time // fires when the next failed voter is due for removal
	for {
		select {
		case leading := <-changes:
			v.setLeading(leading)
			if !leading {
				due = nil
				continue
			}
		case <-v.kick:
		case <-ticker.C:
		case <-due:
		case <-stop:
			return
		}
		next, err := v.reconcile()
		if err != nil {
			v.logger.Warn("reconcile the Raft configuration with the gossip membership", "err", err)
		}
		due = nil
		if next > 0 {
			due = time.After(next)
		}
	}
}

// setLeading records that this server has become leader, or stopped being leader.
// Either way the failure clocks start again from nothing.
func (v *voters) setLeading(leading bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if leading {
		v.logger.Info("became the leader")
	} else if v.leading {
		v.logger.Info("no longer the leader")
	}
	v.leading = leading
	v.failedSince = nil
	if leading {
		v.failedSince = make(map[string]time.Time)
	}
}

// reconcile makes the configuration follow the gossip membership (see plan), if this
// server leads: it removes the voters that left, the failed ones that removeFailed
// allows, and adds the members that are not voters. It returns how long until the next
// failed voter is due for removal (zero if none is waiting), and the errors of the
// changes that failed; the others are made all the same.
func (v *voters) reconcile() (time.Duration, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.leading {
		return 0, nil
	}
	servers, err := v.log.GetServers()
	if err != nil {
		return 0, err
	}
	// Read under mu: an event that changed the membership after this snapshot waits
	// for us, and its Join or Leave runs after our changes. Serf buffers its events
	// (discovery's buffer and its own), so Members does not wait for the event loop.
	members := v.members()
	p := plan(v.self, members, servers)

	var errs []error
	// Removals first: a voter that is gone counts towards the quorum that every later
	// change must reach.
	remaining := make([]string, 0, len(servers))
	for _, s := range servers {
		if !slices.Contains(p.leaves, s.ID) {
			remaining = append(remaining, s.ID)
		}
	}
	for _, name := range p.leaves {
		v.logger.Info("reconcile: removing a server that left", "peer", name)
		if err := v.leave(name); err != nil {
			errs = append(errs, err)
			remaining = append(remaining, name) // still a voter
		}
	}
	next, err := v.removeFailed(p.failed, remaining, healthy(v.self, members))
	errs = append(errs, err)
	for _, peer := range p.joins {
		v.logger.Info("reconcile: adding a member that is not a voter", "peer", peer.name, "addr", peer.addr)
		errs = append(errs, v.join(peer.name, peer.addr))
	}
	return next, errors.Join(errs...)
}

// removeFailed removes the voters among failed that may go, out of the configuration
// servers (names); the caller holds mu and leads. A failed voter goes only when all of
// these hold:
//
//   - it is failed in this server's gossip view now (failed comes from it);
//   - this server has seen it failed, without a break, for removeFailedAfter, counted
//     from the first time it saw it so during its current leadership (failedSince);
//   - the configuration without it keeps a quorum of healthy voters: more than half of
//     the servers left are alive in this server's gossip view (healthy). Otherwise the
//     smaller configuration would depend on servers that gossip says are down as much
//     as the larger one did, with one server fewer that could come back and help
//     (§6: every configuration needs a majority of its own servers).
//
// It starts the clocks of newly failed voters, stops those of voters no longer failed,
// and returns how long until the next one is due (zero if none is waiting).
func (v *voters) removeFailed(failed, servers []string, healthy map[string]bool) (time.Duration, error) {
	now := v.now()
	for name := range v.failedSince {
		if !slices.Contains(failed, name) {
			delete(v.failedSince, name) // back, or no longer a voter
		}
	}
	var next time.Duration
	var errs []error
	for _, name := range failed {
		since, ok := v.failedSince[name]
		if !ok {
			since = now
			v.failedSince[name] = now
			v.logger.Info("a voter has failed; it stays a voter for now",
				"peer", name, "remove_after", v.removeFailedAfter)
		}
		if wait := since.Add(v.removeFailedAfter).Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		without := slices.DeleteFunc(slices.Clone(servers), func(s string) bool { return s == name })
		if !hasHealthyQuorum(without, healthy) {
			v.logger.Warn("a failed voter stays: without it, too few of the servers left are alive to make a quorum",
				"peer", name, "failed_for", now.Sub(since), "servers_left", len(without))
			continue
		}
		v.logger.Info("removing a voter that has stayed failed", "peer", name, "failed_for", now.Sub(since))
		if err := v.leave(name); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(v.failedSince, name)
		servers = without
	}
	return next, errors.Join(errs...)
}

// healthy returns the names of the members that gossip says are alive, with self.
func healthy(self string, members []serf.Member) map[string]bool {
	alive := map[string]bool{self: true}
	for _, m := range members {
		if m.Status == serf.StatusAlive {
			alive[m.Name] = true
		}
	}
	return alive
}

// hasHealthyQuorum reports whether more than half of servers are healthy: enough to
// elect a leader and commit entries in a configuration of servers (§5.2, §5.3).
func hasHealthyQuorum(servers []string, healthy map[string]bool) bool {
	n := 0
	for _, s := range servers {
		if healthy[s] {
			n++
		}
	}
	return n > len(servers)/2
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
	servers, err := v.log.GetServers()
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

// changes are what it takes to make the Raft configuration follow gossip, each list
// sorted by name.
type changes struct {
	// joins are the live members (except self) that are not voters at the address
	// they gossip (Join updates the address of a server that moved).
	joins []peer
	// leaves are the voters (except self) whose member left gracefully.
	leaves []string
	// failed are the voters (except self) whose member failed, or that gossip does not
	// know: it was reaped, or left before this server joined, or gossip has not heard
	// of it yet (as when a whole cluster restarts; its join event follows). They go
	// only when removeFailed allows.
	failed []string
}

// plan compares the gossip members with the servers of the Raft configuration. A
// member that is leaving is in no list: its leave event follows.
func plan(self string, members []serf.Member, servers []*consensus.Server) changes {
	configured := make(map[string]string, len(servers)) // name -> RPC address
	for _, s := range servers {
		configured[s.ID] = s.RPCAddr
	}
	var c changes
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
				c.joins = append(c.joins, peer{name: m.Name, addr: rpcAddr})
			}
		case serf.StatusLeft:
			if inConfig {
				c.leaves = append(c.leaves, m.Name)
			}
		case serf.StatusFailed:
			if inConfig {
				c.failed = append(c.failed, m.Name)
			}
		}
	}
	for name := range configured {
		if name != self && !known[name] {
			c.failed = append(c.failed, name)
		}
	}
	slices.SortFunc(c.joins, func(a, b peer) int { return cmp.Compare(a.name, b.name) })
	slices.Sort(c.leaves)
	slices.Sort(c.failed)
	return c
}
