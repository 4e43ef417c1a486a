package discovery

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each line of Serf or memberlist becomes one slog record at the line's level, with the
// library in the logger attribute; lines below the handler's level are dropped.
func TestLibLoggerBridgesLevels(t *testing.T) {
	tests := []struct {
		line, wantLevel, wantLogger, wantMsg string
	}{
		{"[INFO] serf: EventMemberJoin: node-2 127.0.0.1", "INFO", "serf", "EventMemberJoin: node-2 127.0.0.1"},
		{"[WARN] memberlist: Refuting a suspect message (from: node-3)", "WARN", "memberlist",
			"Refuting a suspect message (from: node-3)"},
		{"[ERR] memberlist: Failed fallback ping: EOF", "ERROR", "memberlist", "Failed fallback ping: EOF"},
		{"[ERROR] serf: something failed", "ERROR", "serf", "something failed"},
		{"no level, no name", "INFO", "serf", "no level, no name"},
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:5", "", "", ""}, // below Info: dropped
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			newLibLogger(logger.With("node", "n1")).Println(tt.line)
			if tt.wantLevel == "" {
				require.Empty(t, buf.String())
				return
			}
			var rec map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), buf.String())
			require.Equal(t, tt.wantLevel, rec["level"])
			require.Equal(t, tt.wantLogger, rec["logger"])
			require.Equal(t, tt.wantMsg, rec["msg"])
			require.Equal(t, "n1", rec["node"])
		})
	}
}
