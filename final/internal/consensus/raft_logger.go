package consensus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// slogLevelTrace is where hclog's Trace lands in slog: below Debug, so a Debug-level
// handler (the tests' -debug logger) leaves raft's per-heartbeat chatter out.
const slogLevelTrace = slog.LevelDebug - 4

// hclogAdapter is an hclog.Logger that writes to a *slog.Logger. raft logs only through
// hclog, and golog logs only through slog, so this is the bridge: raft's key/value pairs
// become slog attributes, hclog.Fmt values are formatted, and a name given with Named
// becomes a "logger" attribute (not a group, so keys stay flat).
type hclogAdapter struct {
	logger  *slog.Logger
	name    string
	implied []any
	// level is shared with every logger derived through With and Named, as in hclog:
	// SetLevel on any of them changes all. hclog.NoLevel leaves the decision to slog.
	level *atomic.Int32
}

var _ hclog.Logger = (*hclogAdapter)(nil)

// newHCLogger returns an hclog.Logger that writes to logger (nil: discard).
func newHCLogger(logger *slog.Logger) hclog.Logger {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &hclogAdapter{logger: logger, level: new(atomic.Int32)}
}

// toSlogLevel maps an hclog level to a slog level.
func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slogLevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default: // hclog.Info and hclog.NoLevel
		return slog.LevelInfo
	}
}

// enabled reports whether a message at level would be written.
func (a *hclogAdapter) enabled(level hclog.Level) bool {
	if level == hclog.Off {
		return false
	}
	if min := hclog.Level(a.level.Load()); min != hclog.NoLevel && level < min {
		return false
	}
	return a.logger.Enabled(context.Background(), toSlogLevel(level))
}

// Log writes msg with the key/value pairs args at level.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if !a.enabled(level) {
		return
	}
	attrs := make([]any, 0, 2+len(a.implied)+len(args))
	if a.name != "" {
		attrs = append(attrs, "logger", a.name)
	}
	attrs = append(attrs, a.implied...)
	attrs = append(attrs, args...)
	a.logger.Log(context.Background(), toSlogLevel(level), msg, convertArgs(attrs)...)
}

// convertArgs turns hclog's key/value pairs into slog's: keys become strings,
// hclog.Format values ({format, args...}) are formatted with fmt.Sprintf, and other
// fmt.Stringers (but errors) become their String.
func convertArgs(args []any) []any {
	out := make([]any, 0, len(args))
	for i := 0; i < len(args); i += 2 {
		key := fmt.Sprint(args[i])
		if i+1 == len(args) { // an odd count: hclog's name for the value without a key
			out = append(out, "EXTRA_VALUE_AT_END", args[i])
			break
		}
		val := args[i+1]
		switch v := val.(type) {
		case hclog.Format:
			if len(v) > 0 {
				format, _ := v[0].(string)
				val = fmt.Sprintf(format, v[1:]...)
			}
		case error, slog.LogValuer:
			// slog knows how to show these.
		case fmt.Stringer:
			// What hclog shows, and slog's text handler too; its JSON handler would
			// marshal the value's exported fields instead (raft passes *Raft).
			val = v.String()
		}
		out = append(out, key, val)
	}
	return out
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

// ImpliedArgs returns the key/value pairs added with With.
func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

// With returns a logger that adds args to every message.
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	b := *a
	b.implied = append(append([]any(nil), a.implied...), args...)
	return &b
}

// Name returns the name given with Named, "" when none.
func (a *hclogAdapter) Name() string { return a.name }

// Named returns a logger whose name is this one's name, a dot, and name.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

// ResetNamed returns a logger whose name is name.
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	b := *a
	b.name = name
	return &b
}

// SetLevel drops messages below level from now on (hclog.NoLevel: let slog decide).
func (a *hclogAdapter) SetLevel(level hclog.Level) { a.level.Store(int32(level)) }

// GetLevel returns the level set with SetLevel or, without one, the lowest level the
// slog handler writes.
func (a *hclogAdapter) GetLevel() hclog.Level {
	if level := hclog.Level(a.level.Load()); level != hclog.NoLevel {
		return level
	}
	for level := hclog.Trace; level < hclog.Off; level++ {
		if a.enabled(level) {
			return level
		}
	}
	return hclog.Off
}

// StandardLogger returns a standard library logger that writes through this one.
func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *stdlog.Logger {
	return stdlog.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer whose every line becomes one message, at
// opts.ForceLevel when set and at Info otherwise.
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return &lineWriter{logger: a, level: level}
}

// lineWriter logs each line written to it. It assumes, like the standard library's
// log.Logger that calls it, one or more whole lines per Write.
type lineWriter struct {
	logger *hclogAdapter
	level  hclog.Level
}

func (w *lineWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		if msg := strings.TrimSpace(string(line)); msg != "" {
			w.logger.Log(w.level, msg)
		}
	}
	return len(p), nil
}
