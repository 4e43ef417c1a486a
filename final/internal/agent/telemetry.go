package agent

import (
	"context"
	"time"

	"github.com/hashicorp/serf/serf"
	"google.golang.org/grpc"

	"golog/internal/telemetry"
)

// tracingFlushTimeout bounds how long Shutdown waits for the last spans to be sent.
const tracingFlushTimeout = 5 * time.Second

// setupTelemetry makes the server's metrics and, with Config.Tracing's endpoint, its
// tracing (package telemetry). The log the gRPC and HTTP servers use is counted, and
// /metrics on the HTTP address shows the counts with the log's and gossip's state: the
// metrics are served with the HTTP API, under its rules (loopback unless the operator
// lets it listen further). Tracing covers the gRPC calls this server serves and those
// it makes to the other servers.
func (a *Agent) setupTelemetry() error {
	a.metrics = telemetry.NewMetrics(telemetry.MetricsConfig{
		Source: a.dlog,
		Members: func() []serf.Member {
			if a.membership == nil { // a scrape cannot come before gossip starts; be safe
				return nil
			}
			return a.membership.Members()
		},
	})
	a.apiLog = a.metrics.Log(a.dlog)

	tracingConfig := a.config.Tracing
	tracingConfig.NodeName = a.config.NodeName
	tracing, err := telemetry.NewTracing(tracingConfig)
	if err != nil {
		return err
	}
	if tracing != nil {
		a.tracing = tracing
		a.peers.opts = append(a.peers.opts, tracing.DialOption())
		a.logger.Info("tracing gRPC calls", "endpoint", tracingConfig.Endpoint)
	}
	return nil
}

// grpcServerOptions returns the gRPC server's options of the telemetry: tracing, if on.
func (a *Agent) grpcServerOptions() []grpc.ServerOption {
	if a.tracing == nil {
		return nil
	}
	return []grpc.ServerOption{a.tracing.ServerOption()}
}

// stopTracing sends the spans not sent yet, and stops tracing, if it is on.
func (a *Agent) stopTracing() error {
	if a.tracing == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
	defer cancel()
	return a.tracing.Shutdown(ctx)
}
