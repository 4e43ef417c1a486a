package telemetry_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/telemetry"
	"golog/internal/testenv"
)

// Without an endpoint there is no tracing; a configuration that cannot work is an
// error that names what is wrong.
func TestNewTracing(t *testing.T) {
	tracing, err := telemetry.NewTracing(telemetry.TracingConfig{})
	require.NoError(t, err)
	require.Nil(t, tracing, "no endpoint: tracing is off")

	notPEM := filepath.Join(testenv.TempDir(t), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o644))
	tests := []struct {
		name    string
		config  telemetry.TracingConfig
		wantErr string
	}{
		{"insecure with a CA", telemetry.TracingConfig{Endpoint: "otel:4317", Insecure: true, CAFile: notPEM}, "insecure"},
		{"missing CA file", telemetry.TracingConfig{Endpoint: "otel:4317", CAFile: "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
		{"CA file without PEM", telemetry.TracingConfig{Endpoint: "otel:4317", CAFile: notPEM}, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := telemetry.NewTracing(tt.config)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
