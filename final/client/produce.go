package client

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	api "golog/api/v1"
)

// MaxWindow is the most writes of one producer ID that may be unresolved at once: sent
// (or about to be) and neither acknowledged nor given up. The servers remember the 64
// newest sequence numbers of each producer; a retry of a sequence number older than
// those is refused, since the servers can no longer tell whether it was applied. With
// at most 64 unresolved, fewer than 64 newer ones can be applied before the oldest is
// retried, so its retry is always recognised.
const MaxWindow = 64

// A sequencer numbers the writes of one producer ID, 1, 2, 3, ..., and keeps the
// numbers in use within a window: it hands out number n only when n minus the oldest
// number still in use is less than the window, and otherwise waits. Safe for
// concurrent use.
type sequencer struct {
	window uint64

	mu      sync.Mutex
	next    uint64              // the next number to hand out
	inUse   map[uint64]struct{} // handed out and not released
	changed chan struct{}       // closed and replaced when a number is released
}

func newSequencer(window int) *sequencer {
	return &sequencer{window: uint64(window), next: 1, inUse: map[uint64]struct{}{}, changed: make(chan struct{})}
}

// acquire returns the next sequence number, waiting while the window is full, until ctx
// ends. The caller must release it once the write is resolved.
func (s *sequencer) acquire(ctx context.Context) (uint64, error) {
	for {
		s.mu.Lock()
		if s.next-s.oldest() < s.window {
			seq := s.next
			s.next++
			s.inUse[seq] = struct{}{}
			s.mu.Unlock()
			return seq, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// oldest returns the oldest number in use, or next if none is. The caller holds mu.
func (s *sequencer) oldest() uint64 {
	oldest := s.next
	for seq := range s.inUse {
		oldest = min(oldest, seq)
	}
	return oldest
}

// release gives back a number that acquire returned.
func (s *sequencer) release(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inUse, seq)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Produce appends value to the log and returns its offset. It retries as the package
// documentation says, with the same sequence number every time, so the record is in the
// log once if Produce succeeds; if it fails, its *Error says whether the record may be
// in the log anyway (Applied). Up to MaxWindow calls of one Client are in flight at
// once; more wait for a turn, within their context.
func (c *Client) Produce(ctx context.Context, value []byte) (uint64, error) {
	var offset uint64
	err := c.write(ctx, "produce", func(ctx context.Context, seq uint64, opts ...grpc.CallOption) error {
		res, err := c.log.Produce(ctx, &api.ProduceRequest{
			Record:     &api.Record{Value: value},
			ProducerId: c.producerID,
			Sequence:   seq,
		}, opts...)
		offset = res.GetOffset()
		return err
	})
	return offset, err
}

// ProduceBatch appends values to the log at consecutive offsets, all or none, and
// returns the offset of the first. It retries as Produce does. An empty batch is
// ErrNoRecords.
func (c *Client) ProduceBatch(ctx context.Context, values [][]byte) (uint64, error) {
	if len(values) == 0 {
		return 0, ErrNoRecords
	}
	records := make([]*api.Record, len(values))
	for i, v := range values {
		records[i] = &api.Record{Value: v}
	}
	var first uint64
	err := c.write(ctx, "produce batch", func(ctx context.Context, seq uint64, opts ...grpc.CallOption) error {
		res, err := c.log.ProduceBatch(ctx, &api.ProduceBatchRequest{
			Records:    records,
			ProducerId: c.producerID,
			Sequence:   seq,
		}, opts...)
		first = res.GetFirstOffset()
		return err
	})
	return first, err
}

// write runs send under a new sequence number of the client's producer ID, with
// retries (call).
func (c *Client) write(ctx context.Context, op string, send func(ctx context.Context, seq uint64, opts ...grpc.CallOption) error) error {
	if c.isClosed() {
		return ErrClosed
	}
	seq, err := c.seqs.acquire(ctx)
	if err != nil {
		return newError(op, AppliedNo, 0, err)
	}
	defer c.seqs.release(seq)
	return c.call(ctx, op, true, func(ctx context.Context, opts ...grpc.CallOption) error {
		return send(ctx, seq, opts...)
	})
}
