package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// # Tracing
//
// With an OTLP endpoint configured, every gRPC call the server serves is a span
// (otelgrpc's stats handler), and a call that carries a W3C traceparent header (a
// client that traces) continues the client's trace: one trace spans client and
// server. The spans go, in batches, to an OpenTelemetry collector over OTLP/gRPC.
// Without an endpoint, nothing is traced and no exporter runs.

// TracingConfig configures NewTracing.
type TracingConfig struct {
	// Endpoint is the "host:port" of an OTLP/gRPC collector (4317 by convention).
	// Empty: tracing is off.
	Endpoint string
	// Insecure sends the spans in plaintext: for a collector on this machine or in
	// the same pod. Otherwise the connection is TLS, checked against CAFile.
	Insecure bool
	// CAFile, if set, is the CA certificate (PEM) the collector's certificate must be
	// signed by; empty means the system's CAs (a scratch image has none).
	CAFile string
	// NodeName is this server's name, the spans' service.instance.id.
	NodeName string
}

// ServiceName is the service.name of golog's spans.
const ServiceName = "golog"

// Tracing exports the spans of a server's gRPC calls. Create it with NewTracing.
type Tracing struct {
	provider *sdktrace.TracerProvider
}

// NewTracing returns the tracing of config, or nil and no error when config has no
// Endpoint: tracing is off. It does not connect: spans are sent as they come, and a
// collector that is down costs only the spans dropped meanwhile.
func NewTracing(config TracingConfig) (*Tracing, error) {
	if config.Endpoint == "" {
		return nil, nil
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(config.Endpoint)}
	switch {
	case config.Insecure && config.CAFile != "":
		return nil, errors.New("tracing: an insecure endpoint takes no CA file")
	case config.Insecure:
		opts = append(opts, otlptracegrpc.WithInsecure())
	default:
		tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
		if config.CAFile != "" {
			pem, err := os.ReadFile(config.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tracing: %w", err)
			}
			tlsConfig.RootCAs = x509.NewCertPool()
			if !tlsConfig.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tracing: %s holds no PEM certificate", config.CAFile)
			}
		}
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsConfig)))
	}
	exporter, err := otlptracegrpc.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", ServiceName),
		attribute.String("service.instance.id", config.NodeName),
	)
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{provider: provider}, nil
}

// propagator reads and writes W3C trace context headers (traceparent, tracestate).
var propagator = propagation.TraceContext{}

// ServerOption returns the option that makes a gRPC server trace every call it serves.
func (t *Tracing) ServerOption() grpc.ServerOption {
	return grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.provider), otelgrpc.WithPropagators(propagator)))
}

// DialOption returns the option that makes a gRPC client trace every call it makes and
// pass the trace on to the server.
func (t *Tracing) DialOption() grpc.DialOption {
	return grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.provider), otelgrpc.WithPropagators(propagator)))
}

// Shutdown sends the spans not sent yet, within ctx, and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	return nil
}
