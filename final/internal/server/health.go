package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// # Health and reflection
//
// The server also serves the standard gRPC health service (grpc.health.v1.Health, what
// grpc-health-probe and Kubernetes probes ask) and server reflection (what grpcurl
// uses to list and call the API without the .proto files), behind the same mutual TLS
// and ACL as the log: both need the consume action. Reflection shows the API's
// schema, nothing of the data.
//
// Health answers SERVING, for the whole server ("") and for the log.v1.Log service,
// while SetServing(true): the agent says so when this server knows a leader and has
// caught up after its start, the moment it can serve both writes (forwarded or not)
// and reads. NOT_SERVING otherwise, and once the server stops.

// logService names the Log service in health checks.
const logServiceName = "log.v1.Log"

// healthService is the grpc health server, with Watch streams that end when the server
// shuts down: they would otherwise keep GracefulStop waiting for ever.
type healthService struct {
	*health.Server
	stopping <-chan struct{}
}

// Watch serves a Watch stream until the client cancels or the server shuts down.
func (h healthService) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-h.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	return h.Server.Watch(req, watchStream{ServerStreamingServer: stream, ctx: ctx})
}

// watchStream is a Watch stream whose context also ends when the server shuts down.
type watchStream struct {
	grpc.ServerStreamingServer[healthpb.HealthCheckResponse]
	ctx context.Context
}

func (s watchStream) Context() context.Context { return s.ctx }

// SetServing sets what the health service answers: SERVING or NOT_SERVING, for the
// server and the Log service. It is safe for concurrent use.
func (s *GRPCServer) SetServing(serving bool) {
	status := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		status = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", status)
	s.health.SetServingStatus(logServiceName, status)
}
