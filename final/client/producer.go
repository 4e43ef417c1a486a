package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
)

// Limits of a Producer.
const (
	// DefaultWindow is ProducerConfig.Window's default.
	DefaultWindow = 4096
	// MaxProducerWindow is the largest ProducerConfig.Window.
	MaxProducerWindow = 1 << 16
	// maxBatchRecords and maxBatchBytes bound a batch: the records one message of the
	// stream carries under one sequence number. A batch's values take at most half of
	// the leader's largest Raft entry (256 KiB), so that with its headers it always fits
	// in one, and the leader can join two in an entry; a record larger than that goes
	// alone.
	maxBatchRecords = 4096
	maxBatchBytes   = 128 << 10
)

// streamIdleTimeout is how long a Producer keeps its stream open with no record to
// send or to hear about.
const streamIdleTimeout = 200 * time.Millisecond

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	// Window is how many records may be sent and not yet acknowledged; Send waits
	// while that many are. Zero means DefaultWindow; more than MaxProducerWindow is
	// MaxProducerWindow. The Producer holds that many values at most.
	Window int
}

// A Producer appends records over one ProduceBatchStream to the leader, pipelined: it
// sends records without waiting for the ones before them to be acknowledged, up to a
// window, and the leader appends them in the order they were sent. Send hands it a
// record and returns an Ack, which the Producer completes when the leader has answered.
//
// It sends records in batches: whatever records are waiting when the stream can take
// more go together in one message, up to 4,096 records or 128 KiB of values. No record
// waits for a batch to fill: a lone record goes at once, and batches grow only while
// earlier ones are in flight, which is when a message each would cost the most. A
// batch is appended whole, at consecutive offsets, and answered with its first offset.
//
// It has a producer ID of its own and numbers its batches, so it retries as Produce
// does: when the stream fails (the leader stops or moves), it opens a new one, at the
// new leader, and sends again, in order, every batch not yet acknowledged, each with
// the records and the sequence number it had. Batches already applied are recognised
// and not appended again. So each acknowledged record is in the log once, at the offset
// its Ack gives, and the records are in the log in the order they were sent: the leader
// takes a stream's batches only in sequence, and refuses one whose predecessor failed
// (SEQUENCE_GAP, not applied), so a batch sent again never lands after one sent later.
// The servers remember a producer's MaxWindow newest sequence numbers, so at most
// MaxWindow batches are in flight.
//
// A record the servers refuse for itself (too large) fails alone: the batch that held
// it is refused whole, not applied, and its records are sent again one a batch, so
// that only that record's Ack gets the *Error; the records after it go on, numbered
// afresh under a new producer ID (none of them can be in the log: they came after the
// gap). When the retry budget runs out (MaxAttempts failures in a row with no
// acknowledgement between them), or the servers refuse the Producer (the ACL), every
// record waiting fails; Send can be called again afterwards, and the records sent then
// are numbered afresh under a new producer ID, as the servers may never have seen the
// batches that failed.
//
// Create it with Client.NewProducer and release it with Close. Its methods are safe for
// concurrent use; records sent from several goroutines at once are in the order Send
// took them.
type Producer struct {
	c      *Client
	id     string
	window int
	ctx    context.Context // ends when the Producer is aborted; its streams live in it
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when anything below changes
	pending []*entry      // sent or to be sent, not resolved yet, in order
	sent    int           // how many of pending the current stream has sent
	batches int           // how many batches the current stream has sent and not had answered
	next    uint64        // the next sequence number
	closing bool          // Close was called: Send refuses
	aborted error         // set when the Producer stopped for good: why
	failed  error         // the first record failure since the last Flush
	// lastOffset is the offset of the last record acknowledged, if acked.
	lastOffset uint64
	acked      bool
}

// An entry is a record of a Producer until it is resolved. The consecutive entries with
// one producer ID and sequence number are a batch; an entry gets them when it is first
// sent, and keeps them through retries (see renumber for the exception).
type entry struct {
	producer string // the producer ID of its batch
	seq      uint64 // its batch's sequence number; 0 until it is first sent
	value    []byte
	ack      *Ack
	// alone is set when the entry must be sent in a batch of its own: a batch that
	// held it was refused for one of its records, not known which.
	alone bool
	// maybe is set when a stream that had sent the record failed before answering
	// for it: the record may be applied, so its failure would be AppliedMaybe.
	maybe bool
}

// An Ack is the outcome of one record given to Producer.Send: its offset, or an
// *Error. Safe for concurrent use.
type Ack struct {
	done   chan struct{}
	offset uint64 // written before done is closed
	err    error
}

// Done returns a channel that is closed when the outcome is known.
func (a *Ack) Done() <-chan struct{} { return a.done }

// Wait waits for the outcome, or for ctx to end (then it returns ctx's error and the
// record stays where it is), and returns it: the record's offset, or the *Error that
// says why it failed and whether it may be in the log anyway (Applied).
func (a *Ack) Wait(ctx context.Context) (uint64, error) {
	select {
	case <-a.done:
		return a.offset, a.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (a *Ack) resolve(offset uint64, err error) {
	a.offset, a.err = offset, err
	close(a.done)
}

// NewProducer returns a Producer with a producer ID of its own. It opens its stream
// when it gets its first record. Close it before the Client; Client.Close aborts the
// Producers still open.
func (c *Client) NewProducer(cfg ProducerConfig) (*Producer, error) {
	id, err := newProducerID()
	if err != nil {
		return nil, err
	}
	window := cfg.Window
	switch {
	case window <= 0:
		window = DefaultWindow
	case window > MaxProducerWindow:
		window = MaxProducerWindow
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		c:       c,
		id:      id,
		window:  window,
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		next:    1,
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cancel()
		return nil, ErrClosed
	}
	c.open[p] = struct{}{}
	go p.run()
	return p, nil
}

// notify wakes whoever waits for a change. The caller holds mu.
func (p *Producer) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait waits until cond holds, ctx ends or the Producer is aborted; cond is checked with
// mu held, and mu is held when wait returns nil.
func (p *Producer) wait(ctx context.Context, cond func() bool) error {
	for !cond() {
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			p.mu.Lock()
			return ctx.Err()
		case <-p.ctx.Done():
			p.mu.Lock()
			if cond() {
				return nil
			}
			return p.aborted
		}
		p.mu.Lock()
	}
	return nil
}

// Send hands value to the Producer, to be appended after every record sent before it,
// and returns its Ack. It waits while Window records are unacknowledged, until ctx
// ends: then it returns an *Error with Applied "no" and the record is not sent. After
// Close, it returns ErrClosed.
func (p *Producer) Send(ctx context.Context, value []byte) (*Ack, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.wait(ctx, func() bool { return p.closing || p.aborted != nil || len(p.pending) < p.window })
	switch {
	case p.closing:
		return nil, ErrClosed
	case p.aborted != nil:
		return nil, p.aborted
	case err != nil:
		return nil, newError("produce stream", AppliedNo, 0, err)
	}
	e := &entry{value: value, ack: &Ack{done: make(chan struct{})}}
	p.pending = append(p.pending, e)
	p.notify()
	return e.ack, nil
}

// Flush waits until every record sent so far is resolved, or ctx ends. It returns the
// first record failure since the previous Flush (an *Error), or ctx's error.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.wait(ctx, func() bool { return len(p.pending) == 0 }); err != nil {
		return err
	}
	err := p.failed
	p.failed = nil
	return err
}

// Close stops taking records, waits until those sent are resolved (Flush) and closes
// the stream. If ctx ends first, it aborts the Producer: the records still waiting fail
// (Applied "maybe" if they were sent). It returns Flush's error. Later calls return nil.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil
	}
	p.closing = true
	p.notify()
	p.mu.Unlock()

	err := p.Flush(ctx)
	if err != nil && ctx.Err() != nil {
		p.abort(fmt.Errorf("client: producer closed: %w", ctx.Err()))
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.abort(fmt.Errorf("client: producer closed: %w", ctx.Err()))
		<-p.done
	}
	p.c.mu.Lock()
	delete(p.c.open, p)
	p.c.mu.Unlock()
	return err
}

// abort stops the Producer for good: its stream ends, and every record waiting fails
// with cause. It does not wait for run to return.
func (p *Producer) abort(cause error) {
	p.mu.Lock()
	if p.aborted == nil {
		p.aborted = cause
	}
	p.failAll(cause, 0)
	p.mu.Unlock()
	p.cancel()
}

// run is the Producer's goroutine: it keeps a stream open while there are records to
// send, and opens a new one when a stream fails, until the Producer closes or aborts.
func (p *Producer) run() {
	defer close(p.done)
	failures := 0 // in a row, with no acknowledgement between them
	var r route
	for {
		p.mu.Lock()
		err := p.wait(p.ctx, func() bool { return len(p.pending) > 0 || p.closing })
		stop := err != nil || len(p.pending) == 0 // closing, and nothing left to send
		p.mu.Unlock()
		if stop {
			return
		}
		end := p.stream(r)
		if end.acked {
			failures = 0
		}
		if end.err == nil {
			continue
		}
		if p.ctx.Err() != nil {
			return
		}
		failures++
		p.c.logger.Debug("client: producer stream failed", "producer", p.id, "failures", failures, "err", end.err)
		var counts bool
		r, counts = p.streamFailed(end, failures)
		if !counts {
			failures = 0
		}
		if sleep(p.ctx, p.c.retry.backoff(max(failures, 1))) != nil {
			return
		}
	}
}

// streamEnd is how a stream of a Producer ended.
type streamEnd struct {
	err    error // nil when the stream was closed and every record it sent answered
	acked  bool  // some record was acknowledged
	picked bool  // the stream reached a connection: what it sent may have been applied
}

// stream sends the pending records over a new stream, and those that Send adds, and
// resolves their Acks from its answers, until the stream ends.
func (p *Producer) stream(r route) (end streamEnd) {
	var picked atomic.Bool
	r.picked = &picked
	defer func() { end.picked = picked.Load() }()
	ctx, cancel := context.WithCancel(withRoute(p.ctx, r))
	defer cancel()
	stream, err := p.c.log.ProduceBatchStream(ctx)
	if err != nil {
		return streamEnd{err: err}
	}
	p.mu.Lock()
	p.sent, p.batches = 0, 0
	p.mu.Unlock()
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		p.sendAll(ctx, stream)
	}()
	defer func() {
		cancel()
		<-sendDone // before anyone looks at sent again
	}()
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			p.mu.Lock()
			unanswered := p.sent
			p.mu.Unlock()
			if unanswered == 0 {
				// sendAll closed the stream (the Producer closes, or it was idle)
				// and the server has answered every record it sent.
				return end
			}
			err = status.Error(codes.Unavailable, "the server ended the stream before answering every record")
		}
		if err != nil {
			end.err = err
			return end
		}
		end.acked = true
		p.acknowledge(res)
	}
}

// sendAll sends the pending records, in order and in batches, as they come, until ctx
// ends or sending fails (the stream's error then comes from Recv). It closes its side
// of the stream once the Producer closes and every record is sent, or once no record
// has been waiting for streamIdleTimeout: an open stream would hold up a server that
// stops gracefully, since it waits for its streams to end.
func (p *Producer) sendAll(ctx context.Context, stream grpc.BidiStreamingClient[api.ProduceBatchRequest, api.ProduceBatchResponse]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		// A batch can go, or the Producer closes and everything is sent.
		toSend := func() bool {
			return p.sent < len(p.pending) && p.batches < MaxWindow || p.closing && p.sent == len(p.pending)
		}
		if len(p.pending) == 0 && !p.closing {
			idle, cancel := context.WithTimeout(ctx, streamIdleTimeout)
			err := p.wait(idle, toSend)
			cancel()
			if err != nil && ctx.Err() == nil && len(p.pending) == 0 {
				_ = stream.CloseSend() // the stream's end shows in Recv
				return
			}
		}
		// Wait for a record to send, or for every record sent to be answered: the
		// stream is idle then.
		if p.wait(ctx, func() bool { return toSend() || len(p.pending) == 0 }) != nil {
			return
		}
		if len(p.pending) == 0 && !p.closing {
			continue
		}
		if p.sent == len(p.pending) { // closing, and everything is sent
			_ = stream.CloseSend()
			return
		}
		req := p.nextBatch()
		p.mu.Unlock()
		err := stream.Send(req)
		p.mu.Lock()
		if err != nil {
			return
		}
	}
}

// nextBatch numbers the next batch to send, if it is new, and returns its request: the
// records the current stream has not sent, from the first on, up to the end of its
// batch if it has one (a batch sent before keeps its records), otherwise up to the
// limits of a batch. The caller holds mu, and there is a record to send.
func (p *Producer) nextBatch() *api.ProduceBatchRequest {
	first := p.pending[p.sent]
	if first.seq == 0 {
		p.number(p.sent)
	}
	n := p.batchLen(p.sent)
	req := &api.ProduceBatchRequest{Records: make([]*api.Record, n), ProducerId: first.producer, Sequence: first.seq}
	for i, e := range p.pending[p.sent : p.sent+n] {
		req.Records[i] = &api.Record{Value: e.value}
	}
	p.sent += n
	p.batches++
	return req
}

// number makes a new batch of the records from pending[from] on that have no sequence
// number yet, as many as the limits of a batch allow (at least one), with the next
// sequence number. The caller holds mu.
func (p *Producer) number(from int) {
	seq := p.next
	p.next++
	size := 0
	for i, e := range p.pending[from:] {
		if i > 0 && (e.seq != 0 || e.alone || i == maxBatchRecords || size+len(e.value) > maxBatchBytes) {
			return
		}
		e.producer, e.seq = p.id, seq
		size += len(e.value)
		if e.alone {
			return
		}
	}
}

// batchLen returns how many records the batch starting at pending[from] holds. The
// caller holds mu.
func (p *Producer) batchLen(from int) int {
	first := p.pending[from]
	n := 1
	for _, e := range p.pending[from+1:] {
		if e.seq != first.seq || e.producer != first.producer {
			break
		}
		n++
	}
	return n
}

// acknowledge resolves the oldest pending batch with the server's answer: the stream
// answers in order.
func (p *Producer) acknowledge(res *api.ProduceBatchResponse) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 || p.sent == 0 {
		return // aborted meanwhile
	}
	n := p.batchLen(0)
	if int(res.Count) != n {
		p.c.logger.Error("client: the leader answered a batch with another count of records than it held",
			"producer", p.id, "sequence", p.pending[0].seq, "records", n, "answered", res.Count)
	}
	if p.acked && res.FirstOffset <= p.lastOffset {
		p.c.logger.Warn("client: a record of a producer is in the log before one sent earlier",
			"producer", p.id, "sequence", p.pending[0].seq, "offset", res.FirstOffset, "earlier_offset", p.lastOffset)
	}
	for i, e := range p.pending[:n] {
		e.ack.resolve(res.FirstOffset+uint64(i), nil)
	}
	p.pending = p.pending[n:]
	p.sent -= n
	p.batches--
	p.acked, p.lastOffset = true, res.FirstOffset+uint64(n-1)
	p.notify()
}

// streamFailed applies the rules of the package documentation to the error that ended
// a stream, after failures failures in a row, and returns the route of the next
// stream. The error is the answer for the oldest pending record; the others the stream
// had sent may have been applied too. counts is false when no record was waiting: an
// idle stream broke, which costs no retry.
func (p *Producer) streamFailed(end streamEnd, failures int) (next route, counts bool) {
	v := judge(end.err)
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.notify()
	p.c.resolveNow() // the leader may have moved: find out before the next stream
	if v.leaderAddr != "" {
		next.prefer = v.leaderAddr
	}
	if len(p.pending) == 0 {
		return next, false
	}
	oldest := 0 // the records of the oldest batch, the one the error answers
	if p.sent > 0 {
		oldest = p.batchLen(0)
	}
	if end.picked {
		for i, e := range p.pending[:p.sent] {
			if i >= oldest || v.applied == AppliedMaybe {
				e.maybe = true
			}
		}
	}
	p.sent, p.batches = 0, 0
	switch {
	case v.perRecord && v.renumber && oldest > 1:
		// One of the batch's records was refused, not known which: they go again
		// one a batch, and the one refused then fails alone.
		for _, e := range p.pending[:oldest] {
			e.alone = true
		}
		p.renumber()
		return next, false
	case v.perRecord:
		oldest = max(oldest, 1)
		for _, e := range p.pending[:oldest] {
			p.fail(e, newError("produce stream", e.applied(), failures, end.err))
		}
		p.pending = p.pending[oldest:]
		if v.renumber {
			p.renumber()
		}
	case !v.retry || failures >= p.c.retry.MaxAttempts:
		p.failAll(end.err, failures)
		// The servers may never have seen some of the batches given up: the next
		// ones would follow a gap, and be refused for ever (SEQUENCE_GAP).
		p.renumber()
	}
	return next, true
}

// renumber takes their batches and sequence numbers from the pending records, to be
// numbered afresh under a new producer ID from 1 when they are sent: after the oldest
// batch was refused for a record before it reached the log (too large, invalid), or
// after the Producer gave up on every pending batch. The servers take a stream's
// batches only in sequence (SEQUENCE_GAP otherwise), so none of the batches after the
// refused one can be in the log, and the old numbers would now leave a gap for ever.
// The caller holds mu.
func (p *Producer) renumber() {
	id, err := newProducerID()
	if err != nil {
		p.failAll(err, 0)
		return
	}
	p.id, p.next = id, 1
	for _, e := range p.pending {
		e.producer, e.seq = "", 0
	}
}

// applied returns what a failure of e says about it.
func (e *entry) applied() string {
	if e.maybe {
		return AppliedMaybe
	}
	return AppliedNo
}

// fail resolves e with err. The caller holds mu.
func (p *Producer) fail(e *entry, err error) {
	e.ack.resolve(0, err)
	if p.failed == nil {
		p.failed = err
	}
}

// failAll fails every pending record with err, after attempts attempts. The caller
// holds mu.
func (p *Producer) failAll(err error, attempts int) {
	for _, e := range p.pending {
		p.fail(e, newError("produce stream", e.applied(), attempts, err))
	}
	p.pending, p.sent, p.batches = nil, 0, 0
	p.notify()
}
