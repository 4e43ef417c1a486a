package logv1

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain names golog in the ErrorInfo details of its gRPC errors.
const ErrorDomain = "golog"

// # Errors a client can act on
//
// Every error golog's servers answer carries an ErrorInfo (domain "golog") whose reason
// says what happened, and, for a write, whether it was applied: its metadata key
// "applied" is "no" (retrying is safe) or "maybe" (retry only with the same producer ID
// and sequence number, which applies it once either way). A write that succeeded was
// applied.
//
//	code                 reason                    applied  what happened
//	FAILED_PRECONDITION  NOT_LEADER                no       sent to a follower: metadata leader_id, leader_addr
//	UNAVAILABLE          NO_LEADER                 no       no leader (an election, or no quorum)
//	UNAVAILABLE          SHUTTING_DOWN             no       the server is stopping
//	UNAVAILABLE          QUEUE_FULL                no       the leader's queue stayed full
//	UNAVAILABLE          LEADERSHIP_TRANSFER       no       the leader is handing over
//	DEADLINE_EXCEEDED    DEADLINE_BEFORE_PROPOSE   no       too little of the deadline was left to propose it
//	INVALID_ARGUMENT     RECORD_TOO_LARGE          no       a record larger than a segment
//	INVALID_ARGUMENT     INVALID_REQUEST           no       no record, a bad producer ID or sequence number
//	FAILED_PRECONDITION  SEQUENCE_TOO_OLD          no       a sequence number older than the log remembers
//	FAILED_PRECONDITION  SEQUENCE_GAP              no       on a produce stream, a sequence number that does not follow
//	                                                        the producer's previous one (an earlier record failed)
//	UNKNOWN              LEADERSHIP_LOST           maybe    the leader lost its quorum before the write committed
//	UNKNOWN              SHUTDOWN_AFTER_PROPOSE    maybe    the server stopped before the write committed
//	DEADLINE_EXCEEDED    STOPPED_WAITING           maybe    the deadline passed while the write was committing
//	  (or CANCELED)
//	UNAVAILABLE          CATCHING_UP               -        a read: the server has just started
//	OUT_OF_RANGE         OFFSET_OUT_OF_RANGE       -        a read: no record at that offset (see OffsetOutOfRange)
//	UNAVAILABLE          READ_INDEX_UNAVAILABLE    -        a linearizable read on a follower could not reach the leader
//
// A DEADLINE_EXCEEDED or CANCELED that a client's own gRPC library produces, when its
// deadline passes before any answer, has no ErrorInfo: the write may have been applied.

// Reasons of the ErrorInfo of golog's errors; see the table above.
const (
	ReasonNotLeader             = "NOT_LEADER"
	ReasonNoLeader              = "NO_LEADER"
	ReasonShuttingDown          = "SHUTTING_DOWN"
	ReasonQueueFull             = "QUEUE_FULL"
	ReasonLeadershipTransfer    = "LEADERSHIP_TRANSFER"
	ReasonDeadlineBeforePropose = "DEADLINE_BEFORE_PROPOSE"
	ReasonRecordTooLarge        = "RECORD_TOO_LARGE"
	ReasonInvalidRequest        = "INVALID_REQUEST"
	ReasonSequenceTooOld        = "SEQUENCE_TOO_OLD"
	ReasonSequenceGap           = "SEQUENCE_GAP"
	ReasonLeadershipLost        = "LEADERSHIP_LOST"
	ReasonShutdownAfterPropose  = "SHUTDOWN_AFTER_PROPOSE"
	ReasonStoppedWaiting        = "STOPPED_WAITING"
	ReasonCatchingUp            = "CATCHING_UP"
	ReasonOffsetOutOfRange      = "OFFSET_OUT_OF_RANGE"
	ReasonReadIndexUnavailable  = "READ_INDEX_UNAVAILABLE"
)

// MetadataApplied is the ErrorInfo metadata key that says whether a failed write was
// applied: AppliedNo or AppliedMaybe.
const (
	MetadataApplied = "applied"
	AppliedNo       = "no"
	AppliedMaybe    = "maybe"
)

// Error returns a gRPC error with code, a message for people and an ErrorInfo with
// reason and metadata, for programs.
func Error(code codes.Code, reason, msg string, metadata map[string]string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{
		Reason:   reason,
		Domain:   ErrorDomain,
		Metadata: metadata,
	})
	if err != nil {
		// WithDetails fails only if the detail cannot be marshalled; the plain status
		// still says everything a person needs.
		return status.Error(code, msg)
	}
	return st.Err()
}

// WriteError returns the gRPC error of a write that failed: Error with the "applied"
// metadata set to applied (AppliedNo or AppliedMaybe).
func WriteError(code codes.Code, reason, applied, msg string) error {
	return Error(code, reason, msg, map[string]string{MetadataApplied: applied})
}

// ErrorInfoOf returns the golog ErrorInfo of err, if it has one.
func ErrorInfoOf(err error) (*errdetails.ErrorInfo, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == ErrorDomain {
			return info, true
		}
	}
	return nil, false
}

// WasApplied says what err, the error of a write, tells about the write: AppliedNo or
// AppliedMaybe. An error without golog's ErrorInfo (the client's own deadline, a broken
// connection) is AppliedMaybe, except errors that a gRPC client produces before sending
// anything (UNAUTHENTICATED and PERMISSION_DENIED from the server never applied either).
func WasApplied(err error) string {
	if info, ok := ErrorInfoOf(err); ok {
		if applied := info.Metadata[MetadataApplied]; applied != "" {
			return applied
		}
	}
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.Unimplemented:
		return AppliedNo
	}
	return AppliedMaybe
}

// NotLeader returns the gRPC error for a write sent to a server that is not the leader:
// code FAILED_PRECONDITION (the request is fine, this server is the wrong one to ask),
// a message that names the leader, and an ErrorInfo with its ID and address, so that a
// client can send the write there. Without a leader it is UNAVAILABLE, NO_LEADER.
func NotLeader(leaderID, leaderAddr string) error {
	if leaderID == "" {
		return Error(codes.Unavailable, ReasonNoLeader,
			"this server is not the leader, and no leader is known (an election is in progress); retry shortly",
			map[string]string{MetadataApplied: AppliedNo, "leader_id": "", "leader_addr": ""})
	}
	return Error(codes.FailedPrecondition, ReasonNotLeader,
		fmt.Sprintf("this server is not the leader; send writes to %s at %s", leaderID, leaderAddr),
		map[string]string{MetadataApplied: AppliedNo, "leader_id": leaderID, "leader_addr": leaderAddr})
}

// LeaderOf returns the leader named by a NOT_LEADER error.
func LeaderOf(err error) (id, addr string, ok bool) {
	info, found := ErrorInfoOf(err)
	if !found || info.Reason != ReasonNotLeader {
		return "", "", false
	}
	return info.Metadata["leader_id"], info.Metadata["leader_addr"], true
}

// OutOfRange describes an OUT_OF_RANGE error: the offset asked for and where the
// answering server stood. The log held offsets [Lowest, Next); a follower answering a
// local read had applied Raft entries up to AppliedIndex and knew them committed up to
// CommitIndex.
type OutOfRange struct {
	Offset, Lowest, Next      uint64
	AppliedIndex, CommitIndex uint64
}

// OffsetOutOfRange returns the gRPC error for a request of an offset the log does not
// hold: code OUT_OF_RANGE, a message a person can read, and an ErrorInfo a program can
// read (OutOfRangeOf).
func OffsetOutOfRange(e OutOfRange) error {
	var msg string
	switch {
	case e.Offset < e.Lowest:
		msg = fmt.Sprintf("offset %d is out of range: it is below the lowest offset the log holds, %d "+
			"(older records were removed)", e.Offset, e.Lowest)
	case e.Lowest == e.Next:
		msg = fmt.Sprintf("offset %d is out of range: the log is empty, the next record gets offset %d", e.Offset, e.Next)
	default:
		msg = fmt.Sprintf("offset %d is out of range: the log holds offsets %d to %d", e.Offset, e.Lowest, e.Next-1)
	}
	return Error(codes.OutOfRange, ReasonOffsetOutOfRange, msg, map[string]string{
		"offset":        strconv.FormatUint(e.Offset, 10),
		"lowest":        strconv.FormatUint(e.Lowest, 10),
		"next":          strconv.FormatUint(e.Next, 10),
		"applied_index": strconv.FormatUint(e.AppliedIndex, 10),
		"commit_index":  strconv.FormatUint(e.CommitIndex, 10),
	})
}

// OutOfRangeOf returns what an OUT_OF_RANGE error says.
func OutOfRangeOf(err error) (OutOfRange, bool) {
	info, ok := ErrorInfoOf(err)
	if !ok || info.Reason != ReasonOffsetOutOfRange {
		return OutOfRange{}, false
	}
	var e OutOfRange
	var errs []error
	for key, dst := range map[string]*uint64{
		"offset": &e.Offset, "lowest": &e.Lowest, "next": &e.Next,
		"applied_index": &e.AppliedIndex, "commit_index": &e.CommitIndex,
	} {
		v, err := strconv.ParseUint(info.Metadata[key], 10, 64)
		errs = append(errs, err)
		*dst = v
	}
	return e, errors.Join(errs...) == nil
}
