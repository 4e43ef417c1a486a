package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"golog/client"
)

// maxLineBytes is the longest line `golog produce` reads from its input: gRPC's
// default message limit.
const maxLineBytes = 4 << 20

// NewProduceCommand returns `golog produce`: it appends records and prints their
// offsets, one per line, in the order of the records.
func NewProduceCommand(opts *ClientOptions) *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "produce [VALUE...]",
		Short: "Append records to the log",
		Long: `Append records to the log, and print the offset of each, one per line, in order.

The values are the arguments; with none, the lines of the standard input, one record
per line (without the line's end). Records are pipelined over one stream to the
leader, or sent --batch at a time, each batch appended as a whole.

The command stops at the first record that fails, and exits with 2 if that record is
certainly not in the log, 3 if it may be; the records sent before it are still
answered, and the offsets of those written are printed.` + exitCodesHelp,
		Example: `  golog produce hello world
  seq 1 1000 | golog produce --batch 100`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 {
				return usageErrorf("--batch must be at least 1, not %d", batch)
			}
			next := argsSource(args)
			if len(args) == 0 {
				next = linesSource(cmd.InOrStdin())
			}
			return opts.run(cmd.Context(), true, func(ctx context.Context, c *client.Client) error {
				if batch == 1 {
					return produceStream(ctx, c, next, cmd.OutOrStdout())
				}
				return produceBatches(ctx, c, next, batch, cmd.OutOrStdout())
			})
		},
	}
	setUp(cmd, opts)
	cmd.Flags().IntVar(&batch, "batch", 1, "records per batch: each batch is appended whole, at consecutive offsets")
	return cmd
}

// A source returns the next record to produce, io.EOF after the last one.
type source func() ([]byte, error)

func argsSource(args []string) source {
	return func() ([]byte, error) {
		if len(args) == 0 {
			return nil, io.EOF
		}
		v := []byte(args[0])
		args = args[1:]
		return v, nil
	}
}

func linesSource(r io.Reader) source {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), maxLineBytes)
	line := 0
	return func() ([]byte, error) {
		if !s.Scan() {
			if err := s.Err(); err != nil {
				return nil, usageErrorf("read line %d of the input: %v", line+1, err)
			}
			return nil, io.EOF
		}
		line++
		return append([]byte(nil), s.Bytes()...), nil
	}
}

// produceStream sends the records through a client.Producer and prints the offsets in
// order as they come.
func produceStream(ctx context.Context, c *client.Client, next source, out io.Writer) error {
	p, err := c.NewProducer(client.ProducerConfig{})
	if err != nil {
		return err
	}
	var (
		acks   []*client.Ack // sent, offset not printed yet
		sent   int           // records sent
		failed error         // the first failure
		output error
	)
	// printDone prints the offsets of the records at the front of acks that are
	// done; with wait, it waits for each.
	printDone := func(wait bool) {
		for len(acks) > 0 {
			ack := acks[0]
			if !wait {
				select {
				case <-ack.Done():
				default:
					return
				}
			}
			off, err := ack.Wait(ctx)
			if err != nil {
				if failed == nil {
					failed = fmt.Errorf("record %d: %w", sent-len(acks)+1, err)
				}
			} else if output == nil {
				_, output = fmt.Fprintln(out, off)
			}
			acks = acks[1:]
		}
	}
	for failed == nil && output == nil {
		value, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			failed = err
			break
		}
		ack, err := p.Send(ctx, value)
		if err != nil {
			failed = fmt.Errorf("record %d: %w", sent+1, err)
			break
		}
		acks = append(acks, ack)
		sent++
		printDone(false)
	}
	closeErr := p.Close(ctx)
	printDone(true)
	if failed == nil && output == nil && closeErr != nil {
		failed = closeErr
	}
	return errors.Join(failed, output)
}

// produceBatches sends the records size at a time with ProduceBatch and prints the
// offsets.
func produceBatches(ctx context.Context, c *client.Client, next source, size int, out io.Writer) error {
	records := 0
	for {
		var values [][]byte
		var readErr error
		for len(values) < size {
			value, err := next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				break
			}
			values = append(values, value)
		}
		if len(values) > 0 {
			first, err := c.ProduceBatch(ctx, values)
			if err != nil {
				return fmt.Errorf("records %d to %d: %w", records+1, records+len(values), err)
			}
			for i := range values {
				if _, err := fmt.Fprintln(out, first+uint64(i)); err != nil {
					return err
				}
			}
			records += len(values)
		}
		if readErr != nil || len(values) < size {
			return readErr
		}
	}
}
