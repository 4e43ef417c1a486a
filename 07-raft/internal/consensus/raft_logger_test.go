package consensus

// newHCLogger is not exported, so this test is in package consensus.

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	handler := slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	logger := newHCLogger(slog.New(handler)).Named("raft").With("node", "node-0")

	logger.Info("updating configuration", "servers", hclog.Fmt("%d servers", 3))
	logger.Named("transport").Warn("failed", "peer", "127.0.0.1:1", "dangling")
	logger.Trace("heartbeat") // below Debug: dropped
	logger.Log(hclog.Error, "boom")

	require.Equal(t, strings.Join([]string{
		`level=INFO msg="updating configuration" logger=raft node=node-0 servers="3 servers"`,
		`level=WARN msg=failed logger=raft.transport node=node-0 peer=127.0.0.1:1 EXTRA_VALUE_AT_END=dangling`,
		`level=ERROR msg=boom logger=raft node=node-0`,
		``,
	}, "\n"), buf.String())

	require.False(t, logger.IsTrace())
	require.True(t, logger.IsDebug())
	require.Equal(t, hclog.Debug, logger.GetLevel())
	require.Equal(t, "raft", logger.Name())
	require.Equal(t, []any{"node", "node-0"}, logger.ImpliedArgs())

	logger.SetLevel(hclog.Warn)
	require.False(t, logger.IsInfo())
	require.True(t, logger.IsWarn())
	buf.Reset()
	logger.Info("dropped")
	logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error}).Print("from the standard logger")
	require.Equal(t, "level=ERROR msg=\"from the standard logger\" logger=raft node=node-0\n", buf.String())
}

func TestHCLogAdapterNilDiscards(t *testing.T) {
	logger := newHCLogger(nil)
	require.False(t, logger.IsError())
	logger.Error("nowhere")
}
