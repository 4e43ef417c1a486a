package consensus

// newHCLogger is not exported, so this test is in package log.

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

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

// In JSON, a value that raft passes as a fmt.Stringer (its *Raft, a Duration) shows as
// its String, as in text; an error as its message.
func TestHCLogAdapterJSONStringers(t *testing.T) {
	var buf bytes.Buffer
	logger := newHCLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	logger.Info("entering follower state", "follower", stringer{"Node at 127.0.0.1:1 [Follower]"},
		"time", 1500*time.Millisecond, "error", errors.New("EOF"))
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), buf.String())
	require.Equal(t, "Node at 127.0.0.1:1 [Follower]", rec["follower"])
	require.Equal(t, "1.5s", rec["time"])
	require.Equal(t, "EOF", rec["error"])
}

// stringer is a struct with a String method, as raft's *Raft is.
type stringer struct{ s string }

func (s stringer) String() string { return s.s }
