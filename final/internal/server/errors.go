package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/consensus"
	"golog/internal/storage"
)

// toStatus turns an error of the log into the gRPC status a client can act on (the
// table in api/v1/errors.go). Errors that are already statuses pass through unchanged.
func toStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if e, ok := errors.AsType[consensus.ErrOffsetOutOfRange](err); ok {
		return api.OffsetOutOfRange(api.OutOfRange{Offset: e.Offset, Lowest: e.Lowest, Next: e.Next,
			AppliedIndex: e.AppliedIndex, CommitIndex: e.CommitIndex})
	}
	if e, ok := errors.AsType[storage.ErrOffsetOutOfRange](err); ok {
		return api.OffsetOutOfRange(api.OutOfRange{Offset: e.Offset, Lowest: e.Lowest, Next: e.Next})
	}
	if e, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		return api.NotLeader(e.LeaderID, e.LeaderAddr)
	}
	if e, ok := errors.AsType[*consensus.AppendError](err); ok {
		return appendStatus(e)
	}
	switch {
	case errors.Is(err, storage.ErrRecordTooLarge):
		return api.WriteError(codes.InvalidArgument, api.ReasonRecordTooLarge, api.AppliedNo, err.Error())
	case errors.Is(err, consensus.ErrNoReadIndex):
		return api.Error(codes.Unavailable, api.ReasonReadIndexUnavailable, err.Error(), nil)
	case errors.Is(err, consensus.ErrCatchingUp):
		return api.Error(codes.Unavailable, api.ReasonCatchingUp, err.Error(), nil)
	case errors.Is(err, consensus.ErrClosed), errors.Is(err, storage.ErrClosed):
		return api.WriteError(codes.Unavailable, api.ReasonShuttingDown, api.AppliedNo, err.Error())
	case errors.Is(err, storage.ErrCorrupt):
		return status.Error(codes.DataLoss, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.FromContextError(err).Err()
	default:
		return status.Error(codes.Internal, err.Error())
	}
}

// appendStatus turns an AppendError into its gRPC status.
func appendStatus(e *consensus.AppendError) error {
	applied := api.AppliedNo
	if e.Applied == consensus.MaybeApplied {
		applied = api.AppliedMaybe
	}
	code := codes.Unavailable
	switch e.Reason {
	case consensus.ReasonDeadlineBeforePropose:
		code = codes.DeadlineExceeded
	case consensus.ReasonSequenceTooOld, consensus.ReasonSequenceGap:
		code = codes.FailedPrecondition
	case consensus.ReasonInvalidRequest:
		code = codes.InvalidArgument
	case consensus.ReasonLeadershipLost, consensus.ReasonShutdownAfterPropose:
		code = codes.Unknown
	case consensus.ReasonStoppedWaiting:
		code = status.FromContextError(e.Err).Code()
	}
	return api.WriteError(code, e.Reason, applied, e.Error())
}
