package server

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/auth"
)

// Authorizer decides whether a subject may perform an action on an object; an error
// (PermissionDenied) means no. *auth.Authorizer is one.
type Authorizer interface {
	Authorize(subject, object, action string) error
}

var _ Authorizer = (*auth.Authorizer)(nil)

// rpcActions is the ACL action each RPC needs. An RPC missing here is refused: access is
// denied unless granted, so a new RPC cannot be served by accident before someone
// decides who may call it.
var rpcActions = map[string]string{
	api.Log_Produce_FullMethodName:            auth.ActionProduce,
	api.Log_ProduceBatch_FullMethodName:       auth.ActionProduce,
	api.Log_ProduceStream_FullMethodName:      auth.ActionProduce,
	api.Log_ProduceBatchStream_FullMethodName: auth.ActionProduce,
	api.Log_Consume_FullMethodName:            auth.ActionConsume,
	api.Log_ConsumeStream_FullMethodName:      auth.ActionConsume,
	api.Log_GetServers_FullMethodName:         auth.ActionConsume, // whoever may read may find the servers
	api.Log_GetStatus_FullMethodName:          auth.ActionConsume,
	api.Cluster_ReadIndex_FullMethodName:      auth.ActionCluster,
	// Health checks and reflection (see health.go): whoever may read.
	healthpb.Health_Check_FullMethodName:                                   auth.ActionConsume,
	healthpb.Health_Watch_FullMethodName:                                   auth.ActionConsume,
	healthpb.Health_List_FullMethodName:                                    auth.ActionConsume,
	reflectionpb.ServerReflection_ServerReflectionInfo_FullMethodName:      auth.ActionConsume,
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: auth.ActionConsume,
}

// gatekeeper checks every RPC before its handler runs: who is calling (the verified
// client certificate's Common Name), and may they do what the RPC does.
type gatekeeper struct {
	acl    Authorizer
	logger *slog.Logger
}

// check returns nil if the caller of method may call it, and otherwise the status to
// answer with: Unauthenticated without a verified client certificate, PermissionDenied
// when the ACL says no.
func (g gatekeeper) check(ctx context.Context, method string) error {
	action, ok := rpcActions[method]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "%s has no ACL action: denied", method)
	}
	subject, err := auth.Subject(ctx)
	if err != nil {
		return err
	}
	if err := g.acl.Authorize(subject, auth.ObjectWildcard, action); err != nil {
		g.logger.InfoContext(ctx, "denied", "subject", subject, "method", method, "action", action)
		return err
	}
	return nil
}

// unary is the grpc.UnaryServerInterceptor that runs check.
func (g gatekeeper) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := g.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// stream is the grpc.StreamServerInterceptor that runs check once, when the stream
// opens.
func (g gatekeeper) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := g.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
