package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Settings configure a run. Size and either Count or Duration are required.
type Settings struct {
	// Size is the bytes of each record's value, at least MinSize.
	Size int
	// Count is how many records to write or read; 0 means as many as fit in Duration.
	// A consume run needs Count: it writes that many records first.
	Count int64
	// Duration bounds the timed phase when Count is 0.
	Duration time.Duration
	// Clients is how many clients work at once (goroutines, each with its own stream
	// or its own calls in flight). 0 means 1.
	Clients int
	// Window is how many records each stream keeps in flight (produce stream); Batch
	// how many records go in one ProduceBatch call (produce batch).
	Window int
	Batch  int
	// Progress, if set, gets a line every ProgressInterval (0: a second) while the
	// timed phase runs.
	Progress         io.Writer
	ProgressInterval time.Duration
	// Label names the run's case in its Result.
	Label string
	// Nonce tells this run's records from others'; 0 means a random one.
	Nonce uint64
}

// withDefaults checks s and fills in its defaults.
func (s Settings) withDefaults() (Settings, error) {
	switch {
	case s.Size < MinSize:
		return s, fmt.Errorf("bench: a record must have at least %d bytes, not %d", MinSize, s.Size)
	case s.Count < 0:
		return s, fmt.Errorf("bench: a negative count, %d", s.Count)
	case s.Count == 0 && s.Duration <= 0:
		return s, errors.New("bench: give a count of records or a duration")
	case s.Clients < 0 || s.Window < 0 || s.Batch < 0:
		return s, errors.New("bench: clients, window and batch cannot be negative")
	}
	s.Clients = max(s.Clients, 1)
	if s.ProgressInterval <= 0 {
		s.ProgressInterval = time.Second
	}
	for s.Nonce == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return s, fmt.Errorf("bench: a nonce: %w", err)
		}
		s.Nonce = binary.BigEndian.Uint64(b[:])
	}
	return s, nil
}

// A quota hands out record indexes to the workers until the run's count is reached or
// its time is up, and counts what is done for the progress line. Safe for concurrent
// use.
type quota struct {
	count    int64     // 0: no limit but the deadline
	deadline time.Time // zero: no deadline
	next     atomic.Int64
	done     atomic.Int64
}

// take reserves up to n consecutive indexes and returns the first and how many; 0 when
// the run is over.
func (q *quota) take(n int64) (first uint64, got int64) {
	if !q.deadline.IsZero() && time.Now().After(q.deadline) {
		return 0, 0
	}
	end := q.next.Add(n)
	start := end - n
	if q.count > 0 {
		end = min(end, q.count)
	}
	if end <= start {
		return 0, 0
	}
	return uint64(start), end - start
}

// An ack is one acknowledged record: its index in the run and the offset the
// cluster gave it.
type ack struct {
	index  uint64
	offset uint64
}

// A worker is the state of one client of a run: what it measured and was answered,
// in the order it was answered.
type worker struct {
	id      int
	q       *quota
	samples []time.Duration
	acks    []ack // produce runs: what was acknowledged, in the order it was
	records int64 // records acknowledged or read
}

// acked notes a produce call that took latency and was answered with acks.
func (w *worker) acked(latency time.Duration, acks ...ack) {
	w.samples = append(w.samples, latency)
	w.acks = append(w.acks, acks...)
	w.counted(int64(len(acks)))
}

// counted notes n records done.
func (w *worker) counted(n int64) {
	w.records += n
	w.q.done.Add(n)
}

// runWorkers runs work once per client, concurrently, and times them. The first error
// cancels the others and is returned. With s.Progress set it prints a progress line
// meanwhile.
func runWorkers(ctx context.Context, name string, s Settings, work func(ctx context.Context, w *worker) error) ([]*worker, time.Duration, error) {
	q := &quota{count: s.Count}
	if s.Count == 0 {
		q.deadline = time.Now().Add(s.Duration)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := make([]*worker, s.Clients)
	var wg sync.WaitGroup
	start := time.Now()
	stopProgress := progress(s, name, q, start)
	for i := range workers {
		w := &worker{id: i, q: q}
		workers[i] = w
		wg.Go(func() {
			if err := work(ctx, w); err != nil {
				cancel(fmt.Errorf("client %d: %w", w.id, err))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	if err := context.Cause(ctx); err != nil {
		return nil, elapsed, err
	}
	return workers, elapsed, nil
}

// progress prints a line every s.ProgressInterval to s.Progress until the function it
// returns is called.
func progress(s Settings, name string, q *quota, start time.Time) (stop func()) {
	if s.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(s.ProgressInterval)
		defer tick.Stop()
		last, lastTime := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				n := q.done.Load()
				rate := float64(n-last) / now.Sub(lastTime).Seconds()
				fmt.Fprintf(s.Progress, "bench: %s: %.0f s, %d records, %.0f records/s now\n",
					name, now.Sub(start).Seconds(), n, rate)
				last, lastTime = n, now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// merge returns every worker's samples together.
func merge(workers []*worker) (samples []time.Duration, records int64) {
	for _, w := range workers {
		samples = append(samples, w.samples...)
		records += w.records
	}
	return samples, records
}
