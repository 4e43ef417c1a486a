package consensus

import (
	"errors"
	"fmt"
)

// ErrCatchingUp is returned by DistributedLog.Read while the server has not yet applied
// everything the cluster had committed when it started, or while it replaces its
// records with a snapshot from the leader. Its answer could be "not written yet" for a
// record that is, so it answers nothing. Retry in a moment, or read from another server.
var ErrCatchingUp = errors.New("this server is catching up with the cluster and serves no reads yet")

// ErrNoReadIndex is wrapped by the error of a linearizable read on a follower that
// could not get a read index from the leader (see Read): the leader is unreachable, or
// lost its leadership meanwhile. Retry, or read from the leader.
var ErrNoReadIndex = errors.New("no read index from the leader")

// ErrClosed is returned by a DistributedLog after Close.
var ErrClosed = errors.New("the distributed log is closed")

// ErrNotLeader is returned by the DistributedLog calls that only the leader serves
// (Append, Join, Leave, ReadIndex) when this server is not the leader. LeaderAddr and
// LeaderID name the leader this server knows of, to send the call to; both are empty
// when it knows none (during an election). Nothing was done. Find it with errors.As or
// errors.AsType.
type ErrNotLeader struct {
	LeaderAddr string // the leader's Raft address, which is also its RPC address
	LeaderID   string
}

func (e ErrNotLeader) Error() string {
	if e.LeaderID == "" {
		return "this server is not the leader, and no leader is known"
	}
	return fmt.Sprintf("this server is not the leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// # What happened to a write that failed
//
// A client that gets an error for a write must know which of three things is true,
// because its next step differs:
//
//   - NotApplied: the write was not applied and never will be (no leader, a deadline
//     that passed before the write was proposed, a queue that stayed full, a record too
//     large). Retrying is safe.
//   - MaybeApplied: the write was proposed and may still be committed, or may be lost
//     (the leader lost its quorum or stopped before the write was committed; the
//     client stopped waiting). Only an idempotent retry (the same producer ID and
//     sequence number) is safe: it appends the record once, either way.
//   - applied: no error.
//
// An AppendError says which, and why.

// Applied says whether a failed write was applied.
type Applied int

const (
	// NotApplied: the write was not applied and will not be.
	NotApplied Applied = iota + 1
	// MaybeApplied: the write may be applied, now or later.
	MaybeApplied
)

func (a Applied) String() string {
	switch a {
	case NotApplied:
		return "not applied"
	case MaybeApplied:
		return "maybe applied"
	}
	return fmt.Sprintf("Applied(%d)", int(a))
}

// Reasons of an AppendError: stable names a program can test, and that the gRPC API
// carries in its ErrorInfo.
const (
	ReasonDeadlineBeforePropose = "DEADLINE_BEFORE_PROPOSE" // not applied
	ReasonQueueFull             = "QUEUE_FULL"              // not applied: raft's queue stayed full
	ReasonLeadershipTransfer    = "LEADERSHIP_TRANSFER"     // not applied: the leader is handing over
	ReasonSequenceTooOld        = "SEQUENCE_TOO_OLD"        // not applied: see ErrSequenceTooOld
	ReasonSequenceGap           = "SEQUENCE_GAP"            // not applied: see ErrSequenceGap
	ReasonInvalidRequest        = "INVALID_REQUEST"         // not applied: a request that can never be applied
	ReasonLeadershipLost        = "LEADERSHIP_LOST"         // maybe applied
	ReasonStoppedWaiting        = "STOPPED_WAITING"         // maybe applied: the caller's context ended
	ReasonShutdownAfterPropose  = "SHUTDOWN_AFTER_PROPOSE"  // maybe applied
)

// An AppendError is the error of a write that failed after it was accepted for
// proposal, or refused for a reason a retry may cure: whether it was applied, why, and
// the underlying error. ErrNotLeader, ErrClosed and the storage errors for a record
// that can never be appended (too large) mean NotApplied too.
type AppendError struct {
	Applied Applied
	Reason  string
	Err     error
}

func (e *AppendError) Error() string {
	return fmt.Sprintf("append %s (%s): %v", e.Applied, e.Reason, e.Err)
}

func (e *AppendError) Unwrap() error { return e.Err }

// notApplied and maybeApplied return AppendErrors.
func notApplied(reason string, err error) error {
	return &AppendError{Applied: NotApplied, Reason: reason, Err: err}
}

func maybeApplied(reason string, err error) error {
	return &AppendError{Applied: MaybeApplied, Reason: reason, Err: err}
}
