package agent_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	api "golog/api/v1"
	"golog/internal/agent"
	"golog/internal/telemetry"
)

// collector is an OpenTelemetry collector in the test's process: it keeps the spans
// the servers export over OTLP/gRPC, with their resources' service names.
type collector struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []collectedSpan // guarded by mu
}

type collectedSpan struct {
	service string
	span    *tracepb.Span
}

func (c *collector) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans = append(c.spans, collectedSpan{service: service, span: s})
			}
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// find returns the span called name of the given kind, in trace, if it has come.
func (c *collector) find(name string, kind tracepb.Span_SpanKind, traceID trace.TraceID) (collectedSpan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.spans {
		if s.span.Name == name && s.span.Kind == kind && bytes.Equal(s.span.TraceId, traceID[:]) {
			return s, true
		}
	}
	return collectedSpan{}, false
}

// startCollector serves a collector on a free loopback port, until the test ends.
func startCollector(t *testing.T) (*collector, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &collector{}
	srv := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(srv, c)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return c, lis.Addr().String()
}

// With an OTLP endpoint configured, a produce from a client that traces makes one
// trace: the client's span, and the server's span of the same call as its child,
// which the server exports to the collector as service golog.
func TestTracingSpansClientAndServer(t *testing.T) {
	coll, endpoint := startCollector(t)
	c := newCluster(t, nil)
	c.configure = func(_ *node, cfg *agent.Config) {
		cfg.Tracing = telemetry.TracingConfig{Endpoint: endpoint, Insecure: true}
	}
	nodes := c.startN(1)

	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	t.Cleanup(func() { require.NoError(t, provider.Shutdown(context.Background())) })
	conn, err := grpc.NewClient(nodes[0].rpcAddr,
		grpc.WithTransportCredentials(credentials.NewTLS(c.rootTLS)),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(provider), otelgrpc.WithPropagators(propagation.TraceContext{}))))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	_, err = api.NewLogClient(conn).Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("traced")}})
	require.NoError(t, err)

	var client sdktrace.ReadOnlySpan
	for _, s := range recorder.Ended() {
		if s.Name() == api.Log_Produce_FullMethodName[1:] && s.SpanKind() == trace.SpanKindClient {
			client = s
		}
	}
	require.NotNil(t, client, "the client's span of Produce")
	traceID := client.SpanContext().TraceID()

	// The server exports in batches, every few seconds.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		s, ok := coll.find("log.v1.Log/Produce", tracepb.Span_SPAN_KIND_SERVER, traceID)
		require.True(ct, ok, "no server span of Produce in trace %s yet", traceID)
		spanID := client.SpanContext().SpanID()
		require.Equal(ct, spanID[:], s.span.ParentSpanId, "the server's span is the client's span's child")
		require.Equal(ct, telemetry.ServiceName, s.service)
	}, waitFor, tick)
}
