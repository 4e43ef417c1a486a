package server

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/consensus"
	"golog/internal/log"
)

// toStatus turns an error of the log into the gRPC status a client can act
// on. Errors that are already statuses pass through unchanged.
func toStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	if e, ok := errors.AsType[log.ErrOffsetOutOfRange](err); ok {
		return api.OffsetOutOfRange(e.Offset, e.Lowest, e.Next)
	}
	if e, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		return api.NotLeader(e.LeaderID, e.LeaderAddr)
	}
	switch {
	case errors.Is(err, log.ErrRecordTooLarge):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, log.ErrCorrupt):
		return status.Error(codes.DataLoss, err.Error())
	case errors.Is(err, log.ErrClosed), errors.Is(err, consensus.ErrCatchingUp):
		return status.Error(codes.Unavailable, err.Error())
	default:
		return status.Error(codes.Internal, err.Error())
	}
}
