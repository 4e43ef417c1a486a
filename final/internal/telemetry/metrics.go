package telemetry

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"golog/internal/consensus"
	"golog/internal/server"
	"golog/internal/storage"
)

// MetricsPath is where the HTTP address serves the metrics.
const MetricsPath = "/metrics"

// Source is what the state gauges are read from; *consensus.DistributedLog is one.
// Every method must be safe for concurrent use.
type Source interface {
	Status() consensus.Status
	GetServers() ([]*consensus.Server, error)
	Segments() []storage.SegmentFile
}

var _ Source = (*consensus.DistributedLog)(nil)

// MetricsConfig configures NewMetrics.
type MetricsConfig struct {
	// Source is the log whose state the gauges show. Required.
	Source Source
	// Members, if set, returns gossip's members, for golog_members.
	Members func() []serf.Member
	// Followers, if set, returns how far each other server is behind this one, for
	// golog_follower_*: it is called only while this server leads, at each scrape, and
	// must answer before ctx ends.
	Followers func(ctx context.Context) []FollowerLag
}

// FollowerLag is how far one server is behind the leader, as the leader sees it.
type FollowerLag struct {
	Name string
	// Up is false when the server did not say how far it has got; Entries and Records
	// are then 0 and not exported.
	Up bool
	// Entries: Raft entries the leader holds that the server has not applied.
	// Records: records the leader holds that the server does not.
	Entries, Records uint64
}

// Metrics holds a server's metrics. Create it with NewMetrics; it is safe for
// concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	produceRequests *prometheus.CounterVec // by result
	producedRecords prometheus.Counter
	producedBytes   prometheus.Counter
	produceSeconds  prometheus.Histogram
	consumeRequests *prometheus.CounterVec // by result
	consumedBytes   prometheus.Counter
	consumeSeconds  prometheus.Histogram
}

// Results of a produce, the values of golog_produce_requests_total's result label.
const (
	resultOK           = "ok"            // appended
	resultDuplicate    = "duplicate"     // a retry of an append already made: answered with its offset
	resultNotLeader    = "not_leader"    // not applied: this server does not lead (the HTTP API forwards it)
	resultNotApplied   = "not_applied"   // not applied, for another reason
	resultMaybeApplied = "maybe_applied" // may or may not have been applied
	resultOutOfRange   = "out_of_range"  // a read of an offset the log does not hold (yet, or any more)
	resultError        = "error"         // any other failure of a read
)

// latencyBuckets are the histograms' upper bounds in seconds: 0.5 ms to about 8 s,
// doubling. A write waits for an fsync on a quorum, a few milliseconds on SSDs; a
// linearizable read on a follower waits for a round trip to the leader.
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 15)

// NewMetrics returns the metrics of a server whose state config.Source gives.
func NewMetrics(config MetricsConfig) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		produceRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "golog_produce_requests_total",
			Help: "Appends this server was asked to make (a produce, a batch, a forwarded write), by result.",
		}, []string{"result"}),
		producedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "golog_produce_records_total",
			Help: "Records this server appended (duplicates of earlier appends not counted).",
		}),
		producedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "golog_produce_bytes_total",
			Help: "Bytes of the values of the records this server appended.",
		}),
		produceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "golog_produce_duration_seconds",
			Help:    "Time from asking for an append to its answer (committed and applied, or failed).",
			Buckets: latencyBuckets,
		}),
		consumeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "golog_consume_records_total",
			Help: "Records this server was asked to read, by result: ok (read), out_of_range " +
				"(not written yet, or removed: a ConsumeStream at the end of the log counts one each time it looks), error.",
		}, []string{"result"}),
		consumedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "golog_consume_bytes_total",
			Help: "Bytes of the values of the records this server read for clients.",
		}),
		consumeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "golog_consume_duration_seconds",
			Help:    "Time to read one record, as fresh as asked (a linearizable read waits for a read index).",
			Buckets: latencyBuckets,
		}),
	}
	for _, r := range []string{resultOK, resultDuplicate, resultNotLeader, resultNotApplied, resultMaybeApplied} {
		m.produceRequests.WithLabelValues(r) // every result shows from the start, at 0
	}
	for _, r := range []string{resultOK, resultOutOfRange, resultError} {
		m.consumeRequests.WithLabelValues(r)
	}
	m.registry.MustRegister(
		m.produceRequests, m.producedRecords, m.producedBytes, m.produceSeconds,
		m.consumeRequests, m.consumedBytes, m.consumeSeconds,
		newStateCollector(config.Source, config.Members, config.Followers),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler returns the handler that serves the metrics in Prometheus' text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Registry returns the registry of the metrics, for a test to gather them.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Log returns log with every Append, Propose and Read counted and timed. What it
// returns is what the gRPC and HTTP servers should be given.
func (m *Metrics) Log(log server.Log) server.Log {
	return &countingLog{Log: log, m: m}
}

// countingLog is a server.Log that keeps Metrics' counters.
type countingLog struct {
	server.Log
	m *Metrics
}

func (l *countingLog) Append(ctx context.Context, req consensus.AppendRequest) (consensus.AppendResult, error) {
	start := time.Now()
	res, err := l.Log.Append(ctx, req)
	l.m.produced(req, res, err, time.Since(start))
	return res, err
}

// Propose counts a proposal once it is answered. The answer comes later, to whoever
// waits on the proposal; a goroutine waits too, until the answer or the end of ctx (the
// stream's), whichever comes first, so it never outlives the request.
func (l *countingLog) Propose(ctx context.Context, req consensus.AppendRequest) (*consensus.Proposal, error) {
	start := time.Now()
	p, err := l.Log.Propose(ctx, req)
	if err != nil {
		l.m.produced(req, consensus.AppendResult{}, err, time.Since(start))
		return nil, err
	}
	go func() {
		res, err := p.Wait(ctx)
		l.m.produced(req, res, err, time.Since(start))
	}()
	return p, nil
}

func (l *countingLog) Read(ctx context.Context, off uint64, c consensus.Consistency) (*storage.Record, error) {
	start := time.Now()
	rec, err := l.Log.Read(ctx, off, c)
	l.m.consumed(rec, err, time.Since(start))
	return rec, err
}

// produced counts the answer to an append of req.
func (m *Metrics) produced(req consensus.AppendRequest, res consensus.AppendResult, err error, took time.Duration) {
	m.produceSeconds.Observe(took.Seconds())
	result := produceResult(res, err)
	m.produceRequests.WithLabelValues(result).Inc()
	if result != resultOK {
		return
	}
	m.producedRecords.Add(float64(len(req.Values)))
	var n int
	for _, v := range req.Values {
		n += len(v)
	}
	m.producedBytes.Add(float64(n))
}

// produceResult returns the result label of an append's answer.
func produceResult(res consensus.AppendResult, err error) string {
	if err == nil {
		if res.Duplicate {
			return resultDuplicate
		}
		return resultOK
	}
	if _, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		return resultNotLeader
	}
	if e, ok := errors.AsType[*consensus.AppendError](err); ok {
		if e.Applied == consensus.NotApplied {
			return resultNotApplied
		}
		return resultMaybeApplied
	}
	switch {
	case errors.Is(err, storage.ErrRecordTooLarge), errors.Is(err, consensus.ErrClosed), errors.Is(err, storage.ErrClosed):
		return resultNotApplied // the errors the log documents as not applied besides AppendError's
	}
	return resultMaybeApplied // what the log does not say was not applied may have been
}

// consumed counts the answer to a read.
func (m *Metrics) consumed(rec *storage.Record, err error, took time.Duration) {
	m.consumeSeconds.Observe(took.Seconds())
	switch {
	case err == nil:
		m.consumeRequests.WithLabelValues(resultOK).Inc()
		m.consumedBytes.Add(float64(len(rec.GetValue())))
	case isOutOfRange(err):
		m.consumeRequests.WithLabelValues(resultOutOfRange).Inc()
	default:
		m.consumeRequests.WithLabelValues(resultError).Inc()
	}
}

func isOutOfRange(err error) bool {
	_, ok := errors.AsType[storage.ErrOffsetOutOfRange](err)
	return ok
}
