package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	api "golog/api/v1"
	"golog/client"
)

// NewConsumeCommand returns `golog consume`: it prints the records from an offset on.
func NewConsumeCommand(opts *ClientOptions) *cobra.Command {
	var (
		offset      uint64
		follow      bool
		format      = formatFlag{value: "text"}
		consistency = consistencyFlag{value: client.Linearizable}
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Print the records of the log from an offset on",
		Long: `Print the records of the log from --offset on, to the end of the log; with --follow,
go on and print each new record as it is written, until interrupted.

With --format text, each record is a line: its offset, a tab, and its value as it is.
With --format json, each record is a JSON object on a line: {"offset":N,"value":"...",
"time":"..."}, the value as a string if it is UTF-8 text and as "value_base64"
otherwise.

Records are read from a follower. --consistency linearizable (the default) reads every
record acknowledged before the command began; local reads what the server has, at once.
It is an error (exit code 5) if there is no record at --offset itself.` + exitCodesHelp,
		Example: `  golog consume --offset 0
  golog consume --offset 100 --follow --format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := newRecordWriter(cmd.OutOrStdout(), format.value)
			return opts.run(cmd.Context(), !follow, func(ctx context.Context, c *client.Client) error {
				if follow {
					return consumeFollow(ctx, c, offset, consistency.value, out)
				}
				return consumeToTheEnd(ctx, c, offset, consistency.value, out)
			})
		},
	}
	setUp(cmd, opts)
	fs := cmd.Flags()
	fs.Uint64Var(&offset, "offset", 0, "the offset of the first record to print")
	fs.BoolVarP(&follow, "follow", "f", false, "after the last record, wait for new ones and print them")
	fs.Var(&format, "format", "output format: text or json")
	fs.Var(&consistency, "consistency", "linearizable or local")
	return cmd
}

// consumeToTheEnd prints the records from offset until the first offset the log does
// not hold.
func consumeToTheEnd(ctx context.Context, c *client.Client, offset uint64, consistency client.Consistency, out *recordWriter) error {
	for off := offset; ; off++ {
		rec, err := c.Consume(ctx, off, consistency)
		if err != nil {
			if oor, ok := api.OutOfRangeOf(err); ok && off > offset && off >= oor.Next {
				return nil // the end of the log
			}
			return err
		}
		if err := out.write(rec); err != nil {
			return err
		}
	}
}

// consumeFollow prints the records from offset on, and new ones as they come, until ctx
// ends: then it returns nil.
func consumeFollow(ctx context.Context, c *client.Client, offset uint64, consistency client.Consistency, out *recordWriter) error {
	for rec, err := range c.Follow(ctx, offset, consistency) {
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: the normal end of --follow
			}
			return err
		}
		if err := out.write(rec); err != nil {
			return err
		}
	}
	return nil
}

// A recordWriter prints records in a format.
type recordWriter struct {
	w      io.Writer
	format string
}

func newRecordWriter(w io.Writer, format string) *recordWriter {
	return &recordWriter{w: w, format: format}
}

// jsonRecord is a record as --format json prints it.
type jsonRecord struct {
	Offset      uint64  `json:"offset"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 string  `json:"value_base64,omitempty"`
	Time        string  `json:"time"`
}

func (w *recordWriter) write(rec client.Record) error {
	if w.format == "text" {
		_, err := fmt.Fprintf(w.w, "%d\t%s\n", rec.Offset, rec.Value)
		return err
	}
	j := jsonRecord{Offset: rec.Offset, Time: rec.Time.UTC().Format(time.RFC3339Nano)}
	if utf8.Valid(rec.Value) {
		v := string(rec.Value)
		j.Value = &v
	} else {
		j.ValueBase64 = base64.StdEncoding.EncodeToString(rec.Value)
	}
	return writeJSON(w.w, j)
}

// writeJSON writes v as JSON on a line.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// formatFlag is a --format flag: text or json.
type formatFlag struct{ value string }

func (f *formatFlag) String() string { return f.value }
func (f *formatFlag) Type() string   { return "format" }
func (f *formatFlag) Set(s string) error {
	if s != "text" && s != "json" {
		return errors.New(`must be "text" or "json"`)
	}
	f.value = s
	return nil
}

// consistencyFlag is a --consistency flag.
type consistencyFlag struct{ value client.Consistency }

func (f *consistencyFlag) String() string { return f.value.String() }
func (f *consistencyFlag) Type() string   { return "consistency" }
func (f *consistencyFlag) Set(s string) error {
	switch s {
	case "linearizable":
		f.value = client.Linearizable
	case "local":
		f.value = client.Local
	default:
		return errors.New(`must be "linearizable" or "local"`)
	}
	return nil
}
