package consensus

import (
	"errors"

	"github.com/hashicorp/raft"
)

// Observe sends what raft reports of its work to ch, without blocking raft: an
// observation that does not fit in ch is dropped (raft counts it), so give ch a buffer
// and read it promptly. What raft v1.8 reports (raft.Observation's Data):
//
//   - raft.RaftState: this server became Follower, Candidate, Leader or Shutdown;
//   - raft.LeaderObservation: the leader this server knows changed (empty: none);
//   - raft.RequestVoteRequest and raft.RequestPreVoteRequest: a candidate asked this
//     server for its vote, or for a pre-vote, before the answer is decided (§5.2);
//   - raft.PeerObservation, raft.FailedHeartbeatObservation and
//     raft.ResumedHeartbeatObservation, on the leader only: it started or stopped
//     replicating to a server, or a heartbeat to one failed or worked again.
//
// Call stop when done; after it returns nothing more is sent. Observe is safe for
// concurrent use; it is what the cluster console watches.
func (d *DistributedLog) Observe(ch chan raft.Observation) (stop func()) {
	observer := raft.NewObserver(ch, false, nil)
	d.raft.RegisterObserver(observer)
	return func() { d.raft.DeregisterObserver(observer) }
}

// The keys under which raft keeps the vote it granted in the stable store
// (hashicorp/raft's keyLastVoteTerm and keyLastVoteCand).
var (
	lastVoteTermKey = []byte("LastVoteTerm")
	lastVoteCandKey = []byte("LastVoteCand")
)

// LastVote returns the newest vote this server granted, as raft keeps it on disk before
// it answers the candidate (§5.2: at most one vote per term, remembered across
// restarts): the term and the candidate's address, which is its RPC address. Term 0
// means it never voted. A server that wins an election has voted for itself.
func (d *DistributedLog) LastVote() (term uint64, candidateAddr string, err error) {
	term, err = d.stable.GetUint64(lastVoteTermKey)
	if errors.Is(err, ErrKeyNotFound) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	cand, err := d.stable.Get(lastVoteCandKey)
	if errors.Is(err, ErrKeyNotFound) {
		return term, "", nil
	}
	return term, string(cand), err
}
