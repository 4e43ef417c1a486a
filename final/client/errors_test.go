package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
)

func TestJudge(t *testing.T) {
	write := func(code codes.Code, reason, applied string) error {
		return api.WriteError(code, reason, applied, "something "+reason)
	}
	for _, tc := range []struct {
		name string
		err  error
		want verdict
	}{
		{"not the leader", api.NotLeader("b", "127.0.0.1:2"), verdict{applied: AppliedNo, retry: true, leaderAddr: "127.0.0.1:2"}},
		{"no leader", api.NotLeader("", ""), verdict{applied: AppliedNo, retry: true}},
		{"shutting down", write(codes.Unavailable, api.ReasonShuttingDown, api.AppliedNo), verdict{applied: AppliedNo, retry: true}},
		{"queue full", write(codes.Unavailable, api.ReasonQueueFull, api.AppliedNo), verdict{applied: AppliedNo, retry: true}},
		{"leadership transfer", write(codes.Unavailable, api.ReasonLeadershipTransfer, api.AppliedNo), verdict{applied: AppliedNo, retry: true}},
		{"deadline before propose", write(codes.DeadlineExceeded, api.ReasonDeadlineBeforePropose, api.AppliedNo), verdict{applied: AppliedNo, retry: true}},
		{"record too large", write(codes.InvalidArgument, api.ReasonRecordTooLarge, api.AppliedNo), verdict{applied: AppliedNo, perRecord: true, renumber: true}},
		{"invalid request", write(codes.InvalidArgument, api.ReasonInvalidRequest, api.AppliedNo), verdict{applied: AppliedNo, perRecord: true, renumber: true}},
		{"sequence too old", write(codes.FailedPrecondition, api.ReasonSequenceTooOld, api.AppliedNo), verdict{applied: AppliedNo, perRecord: true}},
		{"sequence gap", write(codes.FailedPrecondition, api.ReasonSequenceGap, api.AppliedNo), verdict{applied: AppliedNo, retry: true}},
		{"leadership lost", write(codes.Unknown, api.ReasonLeadershipLost, api.AppliedMaybe), verdict{applied: AppliedMaybe, retry: true}},
		{"shutdown after propose", write(codes.Unknown, api.ReasonShutdownAfterPropose, api.AppliedMaybe), verdict{applied: AppliedMaybe, retry: true}},
		{"stopped waiting", write(codes.DeadlineExceeded, api.ReasonStoppedWaiting, api.AppliedMaybe), verdict{applied: AppliedMaybe, retry: true}},
		{"catching up", api.Error(codes.Unavailable, api.ReasonCatchingUp, "wait", nil), verdict{applied: AppliedNo, retry: true}},
		{"no read index", api.Error(codes.Unavailable, api.ReasonReadIndexUnavailable, "no", nil), verdict{applied: AppliedNo, retry: true}},
		{"out of range", api.OffsetOutOfRange(api.OutOfRange{Offset: 5, Next: 3}), verdict{applied: AppliedNo}},
		{"an unknown reason, maybe applied", write(codes.Unavailable, "NEW_REASON", api.AppliedMaybe), verdict{applied: AppliedMaybe, retry: true}},
		{"a broken connection", status.Error(codes.Unavailable, "connection reset"), verdict{applied: AppliedMaybe, retry: true}},
		{"a failed handshake", status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: remote error: tls: bad certificate"`), verdict{applied: AppliedNo}},
		{"the server's deadline", status.Error(codes.DeadlineExceeded, "deadline"), verdict{applied: AppliedMaybe, retry: true}},
		{"an internal error", status.Error(codes.Internal, "oops"), verdict{applied: AppliedMaybe}},
		{"a message too large", status.Error(codes.ResourceExhausted, "trying to send message larger than max"), verdict{applied: AppliedNo}},
		{"permission denied", status.Error(codes.PermissionDenied, "no"), verdict{applied: AppliedNo}},
		{"unauthenticated", status.Error(codes.Unauthenticated, "who"), verdict{applied: AppliedNo}},
		{"a stream that ended", io.EOF, verdict{applied: AppliedMaybe, retry: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, judge(tc.err))
		})
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
		want string
	}{
		{
			name: "a write not applied",
			err:  newError("produce", AppliedNo, 10, api.NotLeader("", "")),
			want: "produce: not applied: this server is not the leader, and no leader is known (an election is in progress); " +
				"retry shortly (Unavailable NO_LEADER, 10 attempts)",
		},
		{
			name: "a write maybe applied",
			err:  newError("produce batch", AppliedMaybe, 1, status.Error(codes.DeadlineExceeded, "context deadline exceeded")),
			want: "produce batch: maybe applied: context deadline exceeded (DeadlineExceeded)",
		},
		{
			name: "a read",
			err:  newError("consume", "", 1, api.OffsetOutOfRange(api.OutOfRange{Offset: 7, Lowest: 0, Next: 3})),
			want: "consume: offset 7 is out of range: the log holds offsets 0 to 2 (OutOfRange OFFSET_OUT_OF_RANGE)",
		},
		{
			name: "several servers",
			err: connectError(errors.Join(
				&pollError{addr: "a:1", err: status.Error(codes.Unavailable, `connection error: desc = "transport: error while dialing: connection refused"`)},
				&pollError{addr: "b:2", err: status.Error(codes.PermissionDenied, `"nobody" may not consume on "*"`)},
			)),
			want: `connect: a:1: transport: error while dialing: connection refused; b:2: "nobody" may not consume on "*" ` +
				`(PermissionDenied, 2 attempts)`,
		},
		{
			name: "several servers alike",
			err: connectError(errors.Join(
				&pollError{addr: "a:1", err: status.Error(codes.PermissionDenied, `"nobody" may not consume on "*"`)},
				&pollError{addr: "b:2", err: status.Error(codes.Unavailable, "down")},
				&pollError{addr: "c:3", err: status.Error(codes.PermissionDenied, `"nobody" may not consume on "*"`)},
			)),
			want: `connect: a:1, c:3: "nobody" may not consume on "*"; b:2: down (PermissionDenied, 3 attempts)`,
		},
		{
			name: "a handshake",
			err: connectError(&pollError{addr: "a:1", err: status.Error(codes.Unavailable,
				`connection error: desc = "transport: authentication handshake failed: remote error: tls: certificate required"`)}),
			want: "connect: a:1: transport: authentication handshake failed: remote error: tls: certificate required " +
				"(Unavailable TLS_HANDSHAKE)",
		},
		{
			name: "a context",
			err:  connectError(fmt.Errorf("waiting: %w", context.DeadlineExceeded)),
			want: "connect: waiting: context deadline exceeded (DeadlineExceeded)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.err.Error())
		})
	}

	// The status inside is found through the Error.
	err := error(newError("consume", "", 1, api.OffsetOutOfRange(api.OutOfRange{Offset: 7, Next: 3})))
	require.Equal(t, codes.OutOfRange, status.Code(err))
	oor, ok := api.OutOfRangeOf(err)
	require.True(t, ok)
	require.Equal(t, uint64(3), oor.Next)
	require.ErrorIs(t, connectError(context.Canceled), context.Canceled)
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	require.Equal(t, RetryPolicy{MaxAttempts: 10, InitialBackoff: 25 * time.Millisecond, MaxBackoff: time.Second}, p)
	for attempt, limit := range map[int]time.Duration{
		1: 25 * time.Millisecond, 2: 50 * time.Millisecond, 3: 100 * time.Millisecond,
		6: 800 * time.Millisecond, 7: time.Second, 30: time.Second,
	} {
		for range 100 {
			d := p.backoff(attempt)
			require.GreaterOrEqual(t, d, limit/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, limit, "attempt %d", attempt)
		}
	}
}
