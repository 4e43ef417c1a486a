package consensus

import (
	"errors"
	"fmt"
)

// Errors returned by a DistributedLog, besides those of the log package (log.ErrClosed,
// log.ErrOffsetOutOfRange, log.ErrRecordTooLarge, log.ErrCorrupt) that it passes on.
// They are wrapped with context, so compare with errors.Is or errors.As, not ==.
var (
	// ErrCatchingUp is returned by DistributedLog.Read while the server has not yet
	// applied everything the cluster had committed when it started, or while it
	// replaces its records with a snapshot from the leader. Its answer could be
	// "not written yet" for a record that is, so it answers nothing. Retry in a moment,
	// or read from another server.
	ErrCatchingUp = errors.New("consensus: this server is catching up with the cluster and serves no reads yet")
)

// ErrNotLeader is returned by the DistributedLog calls that only the leader serves
// (Append, Join, Leave) when this server is not the leader. LeaderAddr and LeaderID name
// the leader this server knows of, to send the call to; both are empty when it knows
// none (during an election). Find it with errors.As or errors.AsType.
type ErrNotLeader struct {
	LeaderAddr string // the leader's Raft address, which is also its RPC address
	LeaderID   string
}

func (e ErrNotLeader) Error() string {
	if e.LeaderID == "" {
		return "consensus: this server is not the leader, and no leader is known"
	}
	return fmt.Sprintf("consensus: this server is not the leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}
