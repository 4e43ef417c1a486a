package discovery

import (
	"bytes"
	"context"
	stdlog "log"
	"log/slog"
	"strings"
)

// Serf and memberlist log through a *log.Logger, one line per call, each starting
// with its level in brackets and the library's name:
//
//	[INFO] serf: EventMemberJoin: node-2 127.0.0.1
//	[WARN] memberlist: Refuting a suspect message (from: node-3)
//
// newLibLogger returns such a *log.Logger that hands each line to logger as a record
// of that level, with the bracketed level cut off and the library's name in the
// logger attribute (logger=serf), so that the lines sit among golog's own in the same
// format, text or JSON, and obey the same --log-level.
func newLibLogger(logger *slog.Logger) *stdlog.Logger {
	return stdlog.New(libWriter{logger: logger}, "", 0)
}

// libWriter is the io.Writer under newLibLogger's *log.Logger, which writes one
// line per Write.
type libWriter struct{ logger *slog.Logger }

// libLevels maps the libraries' bracketed levels to slog's.
var libLevels = map[string]slog.Level{
	"[TRACE]": slog.LevelDebug - 4,
	"[DEBUG]": slog.LevelDebug,
	"[INFO]":  slog.LevelInfo,
	"[WARN]":  slog.LevelWarn,
	"[ERR]":   slog.LevelError,
	"[ERROR]": slog.LevelError,
}

func (w libWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	level := slog.LevelInfo // a line without a known level
	if tag, rest, ok := strings.Cut(line, " "); ok {
		if l, known := libLevels[tag]; known {
			level, line = l, rest
		}
	}
	if !w.logger.Enabled(context.Background(), level) {
		return len(p), nil
	}
	lib := "serf"
	if name, rest, ok := strings.Cut(line, ": "); ok && !strings.ContainsAny(name, " \t") {
		lib, line = name, rest
	}
	w.logger.Log(context.Background(), level, line, "logger", lib)
	return len(p), nil
}
