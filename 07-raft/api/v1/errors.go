package logv1

import (
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain names golog in the ErrorInfo details of its gRPC errors.
const ErrorDomain = "golog"

// ReasonOffsetOutOfRange is the ErrorInfo reason of an OUT_OF_RANGE error.
// Its metadata holds "offset" (what was asked for), "lowest" (the first
// offset the log holds) and "next" (the offset the next record will get).
const ReasonOffsetOutOfRange = "OFFSET_OUT_OF_RANGE"

// ReasonNotLeader is the ErrorInfo reason of the FAILED_PRECONDITION error a server
// that is not the leader answers Produce with. Its metadata holds "leader_id" and
// "leader_addr", the leader the server knows of, empty during an election.
const ReasonNotLeader = "NOT_LEADER"

// NotLeader returns the gRPC error for a write sent to a server that is not the leader:
// code FAILED_PRECONDITION (the request is fine, this server is the wrong one to ask),
// a message that names the leader, and an ErrorInfo with its ID and address, so that a
// client can send the write there.
func NotLeader(leaderID, leaderAddr string) error {
	msg := fmt.Sprintf("this server is not the leader; send writes to %s at %s", leaderID, leaderAddr)
	if leaderID == "" {
		msg = "this server is not the leader, and no leader is known (an election is in progress); retry shortly"
	}
	st, err := status.New(codes.FailedPrecondition, msg).WithDetails(&errdetails.ErrorInfo{
		Reason:   ReasonNotLeader,
		Domain:   ErrorDomain,
		Metadata: map[string]string{"leader_id": leaderID, "leader_addr": leaderAddr},
	})
	if err != nil {
		return status.Error(codes.FailedPrecondition, msg)
	}
	return st.Err()
}

// OffsetOutOfRange returns the gRPC error for a request of an offset the log
// does not hold: code OUT_OF_RANGE, a message a person can read, and an
// ErrorInfo a program can read. Use status.FromError to inspect it.
func OffsetOutOfRange(offset, lowest, next uint64) error {
	msg := fmt.Sprintf("offset %d is out of range: the log holds offsets %d to %d", offset, lowest, next-1)
	if lowest == next {
		msg = fmt.Sprintf("offset %d is out of range: the log is empty, the next record gets offset %d", offset, next)
	}
	st, err := status.New(codes.OutOfRange, msg).WithDetails(&errdetails.ErrorInfo{
		Reason: ReasonOffsetOutOfRange,
		Domain: ErrorDomain,
		Metadata: map[string]string{
			"offset": strconv.FormatUint(offset, 10),
			"lowest": strconv.FormatUint(lowest, 10),
			"next":   strconv.FormatUint(next, 10),
		},
	})
	if err != nil {
		// WithDetails fails only if the detail cannot be marshalled; the
		// plain status still says everything a person needs.
		return status.Error(codes.OutOfRange, msg)
	}
	return st.Err()
}
