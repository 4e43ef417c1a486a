package console

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"golog/internal/consensus"
	"golog/internal/discovery"
	"golog/internal/storage"
)

// MaxEvents is how many events a server keeps, and a ClusterState shows.
const MaxEvents = 200

// pollInterval is how often a Recorder compares the log's status with the last one, to
// see what raft reports no observation for: a vote granted, a snapshot, retention.
const pollInterval = 250 * time.Millisecond

// observationBuffer is the buffer of raft observations; raft drops what does not fit.
const observationBuffer = 256

// Log is what a Recorder and a Console need from the replicated log;
// *consensus.DistributedLog is one. Its methods must be safe for concurrent use.
type Log interface {
	Status() consensus.Status
	GetServers() ([]*consensus.Server, error)
	LastVote() (term uint64, candidateAddr string, err error)
	Observe(ch chan raft.Observation) (stop func())
	Read(ctx context.Context, off uint64, c consensus.Consistency) (*storage.Record, error)
}

var _ Log = (*consensus.DistributedLog)(nil)

// A Recorder keeps the newest events one server sees: raft's observations of
// elections, votes, leaders and peers, gossip's joins, leaves and failures (it is a
// discovery.Handler, for the agent to pass gossip events on to), and what a comparison
// of the log's status every pollInterval shows (votes granted, snapshots, retention).
// Start it with Run. Safe for concurrent use.
type Recorder struct {
	self   string
	log    Log
	logger *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	events []Event // guarded by mu; oldest first, at most MaxEvents
	// heartbeatFailing holds the followers whose heartbeats fail, so that a failure is
	// reported once until it heals, not at every retry; guarded by mu.
	heartbeatFailing map[string]bool
}

var _ discovery.Handler = (*Recorder)(nil)

// NewRecorder returns the recorder of the server self, watching log. A nil logger
// discards.
func NewRecorder(self string, log Log, logger *slog.Logger) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{self: self, log: log, logger: logger, now: time.Now, heartbeatFailing: map[string]bool{}}
}

// Events returns a copy of the events, oldest first.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Add records that this server saw kind happen, with term and peer (either may be
// zero), and text.
func (r *Recorder) Add(kind string, term uint64, peer, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, Event{Time: r.now(), Server: r.self, Kind: kind, Term: term, Peer: peer, Text: text})
	if over := len(r.events) - MaxEvents; over > 0 {
		r.events = append(r.events[:0], r.events[over:]...)
	}
}

// Join records a gossip join (discovery.Handler). It never fails.
func (r *Recorder) Join(name, addr string) error {
	r.Add(EventJoin, 0, name, fmt.Sprintf("%s sees %s in the cluster (gossip: joined or updated, RPC at %s)", r.self, name, addr))
	return nil
}

// Leave records a graceful gossip leave (discovery.Handler). It never fails.
func (r *Recorder) Leave(name string) error {
	r.Add(EventLeave, 0, name, fmt.Sprintf("%s saw %s leave the cluster gracefully (gossip)", r.self, name))
	return nil
}

// Failed records a gossip failure (discovery.Handler). It never fails.
func (r *Recorder) Failed(name string) error {
	r.Add(EventFailed, 0, name, fmt.Sprintf("%s: gossip says %s has failed (no answer to probes)", r.self, name))
	return nil
}

// Run records what the log reports until ctx is done.
func (r *Recorder) Run(ctx context.Context) {
	observations := make(chan raft.Observation, observationBuffer)
	stop := r.log.Observe(observations)
	defer stop()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	last := r.poll(pollState{}, true)
	for {
		select {
		case o := <-observations:
			r.observe(o.Data)
			last = r.poll(last, false) // a vote is on disk before the answer goes out
		case <-ticker.C:
			last = r.poll(last, false)
		case <-ctx.Done():
			return
		}
	}
}

// observe records one raft observation.
func (r *Recorder) observe(data any) {
	term := r.log.Status().Term
	switch o := data.(type) {
	case raft.RaftState:
		// raft reports the state before a candidate increments its term, and a
		// follower's term may be about to rise: only a leader's term is certain here.
		switch o {
		case raft.Leader:
			r.Add(EventState, term, "", fmt.Sprintf("%s became leader in term %d", r.self, term))
		case raft.Candidate:
			r.Add(EventState, 0, "", fmt.Sprintf("%s became candidate: it starts an election (its term was %d)", r.self, term))
		default:
			r.Add(EventState, 0, "", fmt.Sprintf("%s became %s", r.self, roleOf(o.String())))
		}
	case raft.LeaderObservation:
		if o.LeaderID == "" {
			r.Add(EventLeader, term, "", fmt.Sprintf("%s knows no leader (term %d)", r.self, term))
			return
		}
		r.Add(EventLeader, term, string(o.LeaderID), fmt.Sprintf("%s follows leader %s (term %d)", r.self, o.LeaderID, term))
	case raft.RequestVoteRequest:
		candidate := string(o.ID)
		transfer := ""
		if o.LeadershipTransfer {
			transfer = ", a leadership transfer"
		}
		r.Add(EventVoteRequest, o.Term, candidate, fmt.Sprintf("%s asks %s for its vote in term %d (its log ends at index %d of term %d%s)",
			candidate, r.self, o.Term, o.LastLogIndex, o.LastLogTerm, transfer))
	case raft.RequestPreVoteRequest:
		candidate := string(o.ID)
		r.Add(EventPreVoteRequest, o.Term, candidate, fmt.Sprintf("%s asks %s whether it would vote for it in term %d (pre-vote)",
			candidate, r.self, o.Term))
	case raft.PeerObservation:
		if o.Removed {
			r.Add(EventPeerRemoved, term, string(o.Peer.ID), fmt.Sprintf("leader %s stopped replicating to %s", r.self, o.Peer.ID))
			return
		}
		r.Add(EventPeerAdded, term, string(o.Peer.ID), fmt.Sprintf("leader %s replicates to %s", r.self, o.Peer.ID))
	case raft.FailedHeartbeatObservation:
		if r.markHeartbeat(string(o.PeerID), true) {
			r.Add(EventHeartbeatFailed, term, string(o.PeerID), fmt.Sprintf("leader %s cannot reach %s (heartbeat failed)", r.self, o.PeerID))
		}
	case raft.ResumedHeartbeatObservation:
		if r.markHeartbeat(string(o.PeerID), false) {
			r.Add(EventHeartbeatBack, term, string(o.PeerID), fmt.Sprintf("leader %s reaches %s again", r.self, o.PeerID))
		}
	}
}

// markHeartbeat notes whether the heartbeats to peer fail, and reports whether that is
// news.
func (r *Recorder) markHeartbeat(peer string, failing bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.heartbeatFailing[peer] == failing {
		return false
	}
	r.heartbeatFailing[peer] = failing
	return true
}

// pollState is what poll compares.
type pollState struct {
	voteTerm      uint64
	voteFor       string
	snapshotIndex uint64
	lowestOffset  uint64
}

// poll records what changed since last: a vote granted, a snapshot, records removed by
// retention. The first poll (first) only takes the state.
func (r *Recorder) poll(last pollState, first bool) pollState {
	st := r.log.Status()
	now := pollState{snapshotIndex: st.SnapshotIndex, lowestOffset: st.LowestOffset}
	term, candidate, err := r.log.LastVote()
	if err != nil {
		r.logger.Debug("console: read the last vote", "err", err)
		now.voteTerm, now.voteFor = last.voteTerm, last.voteFor
	} else {
		now.voteTerm, now.voteFor = term, candidate
	}
	if first {
		return now
	}
	if now.voteTerm != last.voteTerm || now.voteFor != last.voteFor {
		name := nameOf(r.log, now.voteFor)
		text := fmt.Sprintf("%s voted for %s in term %d", r.self, name, now.voteTerm)
		if name == r.self {
			text = fmt.Sprintf("%s voted for itself in term %d", r.self, now.voteTerm)
		}
		r.Add(EventVote, now.voteTerm, name, text)
	}
	if now.snapshotIndex > last.snapshotIndex {
		r.Add(EventSnapshot, st.Term, "", fmt.Sprintf("%s has a snapshot up to Raft index %d", r.self, now.snapshotIndex))
	}
	if now.lowestOffset > last.lowestOffset {
		r.Add(EventRetention, st.Term, "", fmt.Sprintf("retention removed %s's records below offset %d", r.self, now.lowestOffset))
	}
	return now
}

// nameOf returns the name of the server whose RPC address is addr in log's
// configuration, or addr if none is.
func nameOf(log Log, addr string) string {
	servers, err := log.GetServers()
	if err != nil {
		return addr
	}
	for _, s := range servers {
		if s.RPCAddr == addr {
			return s.ID
		}
	}
	return addr
}

// roleOf turns raft's state name (Leader, Follower, Candidate, Shutdown) into a role
// of ServerState.
func roleOf(state string) string { return strings.ToLower(state) }
