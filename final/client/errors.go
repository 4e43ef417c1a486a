package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
)

// Values of Error.Applied: what a failed write did to the log.
const (
	// AppliedNo: the write is not in the log and never will be. Writing it again is
	// safe.
	AppliedNo = "no"
	// AppliedMaybe: the write may be in the log, now or later, once. Writing it again
	// (with another Produce) may store it twice.
	AppliedMaybe = "maybe"
)

// ReasonTLSHandshake is the Reason of an Error whose connection failed its TLS handshake:
// the server refused the client's certificate (or the client sent none), or the client
// refused the server's. Retrying does not help, so the client does not.
const ReasonTLSHandshake = "TLS_HANDSHAKE"

// ErrClosed is returned by the methods of a Client after Close, and by Producer.Send
// after the Producer was closed.
var ErrClosed = errors.New("client: closed")

// ErrNoRecords is returned by ProduceBatch for an empty batch.
var ErrNoRecords = errors.New("client: a batch needs at least one record")

// An Error is what a call of the Client returns when it gives up: the server refused
// the call for good, the retry budget ran out, or the caller's context ended. See the
// package documentation for which errors are retried.
//
// Find it with errors.As. Its Err is the last attempt's error, a gRPC status error
// most of the time, so status.Code, api.ErrorInfoOf and api.OutOfRangeOf work on an
// Error too.
type Error struct {
	// Op is what failed: "connect", "produce", "produce batch", "produce stream",
	// "consume", "follow", "servers" or "status".
	Op string
	// Applied is AppliedNo or AppliedMaybe for a write, "" for anything else. A write
	// is AppliedMaybe when any of its attempts may have been applied: the last
	// attempt may have failed before it reached a server, but the one before may not
	// have.
	Applied string
	// Code is the gRPC code of the last attempt's error.
	Code codes.Code
	// Reason is the ErrorInfo reason of the last attempt's error (api.ReasonNoLeader,
	// api.ReasonOffsetOutOfRange, ...), ReasonTLSHandshake, or "" if there is none.
	Reason string
	// Attempts is how many times the call was sent (or tried to be).
	Attempts int
	// Err is the last attempt's error.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	switch e.Applied {
	case AppliedNo:
		b.WriteString(": not applied")
	case AppliedMaybe:
		b.WriteString(": maybe applied")
	}
	b.WriteString(": ")
	b.WriteString(describe(e.Err))
	b.WriteString(" (")
	b.WriteString(e.Code.String())
	if e.Reason != "" {
		b.WriteString(" ")
		b.WriteString(e.Reason)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, ", %d attempts", e.Attempts)
	}
	b.WriteString(")")
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// describe returns err's message for people: a gRPC status's message without the
// "rpc error: code = ... desc =" around it (Error.Error says the code), and the
// errors of several servers one after the other.
func describe(err error) string {
	switch e := err.(type) {
	case interface{ GRPCStatus() *status.Status }:
		msg := e.GRPCStatus().Message()
		// gRPC quotes the error of a connection that failed: unquote it.
		if quoted, ok := strings.CutPrefix(msg, "connection error: desc = "); ok {
			if s, err := strconv.Unquote(quoted); err == nil {
				return s
			}
		}
		return msg
	case *pollError:
		return e.addr + ": " + describe(e.err)
	case interface{ Unwrap() []error }:
		// The servers that failed alike are named together: "a, b: refused".
		var messages []string
		servers := map[string][]string{}
		for _, err := range e.Unwrap() {
			var addr string
			if pe, ok := err.(*pollError); ok {
				addr, err = pe.addr, pe.err
			}
			msg := describe(err)
			if _, seen := servers[msg]; !seen {
				messages = append(messages, msg)
			}
			if addr != "" {
				servers[msg] = append(servers[msg], addr)
			} else if servers[msg] == nil {
				servers[msg] = []string{}
			}
		}
		parts := make([]string, len(messages))
		for i, msg := range messages {
			parts[i] = msg
			if len(servers[msg]) > 0 {
				parts[i] = strings.Join(servers[msg], ", ") + ": " + msg
			}
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

// newError returns the Error of op that gave up after attempts with err. applied is
// "" for a call that is not a write.
func newError(op, applied string, attempts int, err error) *Error {
	e := &Error{Op: op, Applied: applied, Code: codeOf(err), Attempts: attempts, Err: err}
	if info, ok := api.ErrorInfoOf(err); ok {
		e.Reason = info.Reason
	} else if isHandshakeFailure(err) {
		e.Reason = ReasonTLSHandshake
	}
	return e
}

// codeOf returns the gRPC code of err: its status's, the code of a context's error, or
// UNKNOWN.
func codeOf(err error) codes.Code {
	if _, ok := status.FromError(err); ok {
		return status.Code(err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Code()
	}
	return codes.Unknown
}

// A verdict is what one attempt's error says about the next step.
type verdict struct {
	// applied is what the attempt did, if it was a write: AppliedNo or AppliedMaybe.
	applied string
	// retry is true when another attempt may succeed.
	retry bool
	// perRecord is true when the error is about the write itself (its size, its
	// sequence number), not about the connection or the caller: a streamed producer
	// fails that one record and carries on with the others.
	perRecord bool
	// renumber is true when the record was refused before it reached the log (too
	// large, invalid): a streamed producer numbers the records after it afresh (see
	// Producer.renumber).
	renumber bool
	// leaderAddr is where a NOT_LEADER error says the leader is.
	leaderAddr string
}

// judge returns the verdict on an attempt's error; the table is in the package
// documentation. It does not look at the caller's context: callers stop when it has
// ended, whatever the verdict.
func judge(err error) verdict {
	if info, ok := api.ErrorInfoOf(err); ok {
		switch info.Reason {
		case api.ReasonNotLeader:
			_, addr, _ := api.LeaderOf(err)
			return verdict{applied: AppliedNo, retry: true, leaderAddr: addr}
		case api.ReasonNoLeader, api.ReasonShuttingDown, api.ReasonQueueFull, api.ReasonLeadershipTransfer,
			api.ReasonDeadlineBeforePropose, api.ReasonSequenceGap:
			// SEQUENCE_GAP: on a stream, an earlier record failed; the producer sends
			// it again, and this one after it.
			return verdict{applied: AppliedNo, retry: true}
		case api.ReasonRecordTooLarge, api.ReasonInvalidRequest:
			return verdict{applied: AppliedNo, perRecord: true, renumber: true}
		case api.ReasonSequenceTooOld:
			return verdict{applied: AppliedNo, perRecord: true}
		case api.ReasonLeadershipLost, api.ReasonShutdownAfterPropose, api.ReasonStoppedWaiting:
			return verdict{applied: AppliedMaybe, retry: true}
		case api.ReasonCatchingUp, api.ReasonReadIndexUnavailable:
			return verdict{applied: AppliedNo, retry: true}
		case api.ReasonOffsetOutOfRange:
			return verdict{applied: AppliedNo}
		}
		// A reason this client does not know: the "applied" metadata and the code
		// decide below.
	}
	v := verdict{applied: api.WasApplied(err)}
	switch status.Code(err) {
	case codes.Unavailable:
		if isHandshakeFailure(err) {
			// Nothing went over a connection that never got through its handshake,
			// and the next one fails the same way.
			v.applied = AppliedNo
		} else {
			v.retry = true // the connection broke, or the server is going
		}
	case codes.Unknown, codes.Aborted, codes.Canceled, codes.DeadlineExceeded:
		// The server's own cancellations; the caller's context is checked apart.
		v.retry = true
	case codes.ResourceExhausted:
		// gRPC refuses a message over its size limit before any handler sees it.
		v.applied = AppliedNo
	}
	return v
}

// isHandshakeFailure reports whether err says that a connection failed its TLS
// handshake. gRPC turns the handshake's error into an UNAVAILABLE status whose message
// is all that is left of it.
func isHandshakeFailure(err error) bool {
	if status.Code(err) != codes.Unavailable {
		return false
	}
	msg := status.Convert(err).Message()
	for _, s := range []string{"authentication handshake failed", "tls: ", "x509: "} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
