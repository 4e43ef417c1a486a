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
