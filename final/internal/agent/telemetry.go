package agent

import (
	"github.com/hashicorp/serf/serf"

	"golog/internal/telemetry"
)

// setupTelemetry makes the server's metrics (package telemetry): the log the gRPC and
// HTTP servers use is counted, and /metrics on the HTTP address shows the counts with
// the log's and gossip's state. The metrics are served with the HTTP API, under its
// rules: on loopback unless the operator lets it listen further.
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
	return nil
}
