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
		Followers: a.followerLags,
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

// followerLags returns, for the leader's metrics, how far each other server is behind
// it: the console asks every server for its state (over the HTTP API, as it does for
// the page) and works out the lags.
func (a *Agent) followerLags(ctx context.Context) []telemetry.FollowerLag {
	if a.console == nil { // a scrape cannot come before the console is set up; be safe
		return nil
	}
	var lags []telemetry.FollowerLag
	for _, row := range a.console.Cluster(ctx).Servers {
		if row.Name == a.config.NodeName {
			continue
		}
		lag := telemetry.FollowerLag{Name: row.Name}
		if row.Up && row.LagEntries != nil && row.LagRecords != nil {
			lag.Up, lag.Entries, lag.Records = true, *row.LagEntries, *row.LagRecords
		}
		lags = append(lags, lag)
	}
	return lags
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
