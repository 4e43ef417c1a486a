package bench

import (
	"context"
	"fmt"
	"iter"
	"time"

	"golog/client"
)

// ConsumeStream writes s.Count records, waits until every server holds them, then
// reads them back on s.Clients streams at once (each stream reads them all, from a
// follower when the client has one), checking each record: count, consecutive
// offsets, content. records/s counts every record every stream read.
func ConsumeStream(ctx context.Context, c *client.Client, consistency client.Consistency, s Settings) (Result, error) {
	return consume(ctx, c, "consume/stream", s, func(ctx context.Context, w *worker, s Settings, want []ack) error {
		_, err := readBack(ctx, func(ctx context.Context, from uint64) iter.Seq2[client.Record, error] {
			return func(yield func(client.Record, error) bool) {
				for rec, err := range c.Follow(ctx, from, consistency) {
					if err == nil {
						w.counted(1)
					}
					if !yield(rec, err) {
						return
					}
				}
			}
		}, &Checker{Nonce: s.Nonce, Size: s.Size}, want)
		return err
	})
}

// ConsumeUnary writes s.Count records, waits until every server holds them, then reads
// them back with one Consume call per record, s.Clients calls in flight, checking each.
func ConsumeUnary(ctx context.Context, c *client.Client, consistency client.Consistency, s Settings) (Result, error) {
	return consume(ctx, c, "consume/unary", s, func(ctx context.Context, w *worker, s Settings, want []ack) error {
		check := &Checker{Nonce: s.Nonce, Size: s.Size}
		for {
			i, n := w.q.take(1)
			if n == 0 {
				return nil
			}
			a := want[i]
			start := time.Now()
			rec, err := c.Consume(ctx, a.offset, consistency)
			if err != nil {
				return fmt.Errorf("offset %d: %w", a.offset, err)
			}
			latency := time.Since(start)
			if rec.Offset != a.offset {
				return fmt.Errorf("asked for offset %d, got the record of offset %d", a.offset, rec.Offset)
			}
			if err := check.Check(a.index, rec.Value); err != nil {
				return fmt.Errorf("offset %d: %w", a.offset, err)
			}
			w.samples = append(w.samples, latency)
			w.counted(1)
		}
	})
}

// consume writes the records a consume run reads, then runs it.
func consume(ctx context.Context, c *client.Client, name string, s Settings,
	work func(ctx context.Context, w *worker, s Settings, want []ack) error) (Result, error) {
	s, err := s.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if s.Count == 0 {
		return Result{}, fmt.Errorf("bench: %s needs a count: it writes the records it reads first", name)
	}
	want, err := preload(ctx, c, s)
	if err != nil {
		return Result{}, fmt.Errorf("bench: %s: write the records to read: %w", name, err)
	}
	if err := waitForServers(ctx, c, want[len(want)-1].offset); err != nil {
		return Result{}, fmt.Errorf("bench: %s: %w", name, err)
	}
	workers, elapsed, err := runWorkers(ctx, name, s, func(ctx context.Context, w *worker) error {
		return work(ctx, w, s, want)
	})
	if err != nil {
		return Result{}, fmt.Errorf("bench: %s: %w", name, err)
	}
	samples, records := merge(workers)
	r := newResult(name, s, records, elapsed, samples)
	r.Verified = fmt.Sprintf("%d records read, each at its offset with its own bytes", records)
	if name == "consume/stream" {
		r.Verified = fmt.Sprintf("%d streams each read the %d records at offsets %d to %d, in order, each with its own bytes",
			s.Clients, len(want), want[0].offset, want[len(want)-1].offset)
	}
	return r, nil
}

// preloadBytes is about how much one ProduceBatch call of preload carries.
const preloadBytes = 1 << 20

// preload writes s.Count records in batches and returns where each went, in order.
func preload(ctx context.Context, c *client.Client, s Settings) ([]ack, error) {
	per := max(1, preloadBytes/s.Size)
	want := make([]ack, 0, s.Count)
	for first := int64(0); first < s.Count; first += int64(per) {
		n := min(int64(per), s.Count-first)
		values := make([][]byte, n)
		for i := range values {
			values[i] = Payload(s.Nonce, uint64(first)+uint64(i), s.Size)
		}
		off, err := c.ProduceBatch(ctx, values)
		if err != nil {
			return nil, err
		}
		for i := range n {
			want = append(want, ack{index: uint64(first + i), offset: off + uint64(i)})
		}
	}
	return want, nil
}

// waitForServers waits until every server of the cluster holds the record at offset
// last, so that no read of the timed phase waits for replication.
func waitForServers(ctx context.Context, c *client.Client, last uint64) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		statuses, err := c.Status(ctx)
		if err != nil {
			return err
		}
		behind := ""
		for _, st := range statuses {
			if st.Err != nil || st.NextOffset <= last {
				behind = st.ID
			}
		}
		if behind == "" {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("server %s does not hold offset %d yet: %w", behind, last, ctx.Err())
		}
	}
}
