package client_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/client"
	"golog/internal/agent"
	"golog/internal/storage"
)

func TestAProducerKeepsOrderAcrossALeaderChange(t *testing.T) {
	c := newCluster(t, 3)
	rec := newRecorder()
	cl := c.newClient(c.clientConfig(rec))
	p, err := cl.NewProducer(client.ProducerConfig{Window: 16})
	require.NoError(t, err)

	const n = 300
	var (
		want []string
		acks []*client.Ack
	)
	old := c.leader()
	for i := range n {
		value := fmt.Sprintf("record-%d", i)
		ack, err := p.Send(t.Context(), []byte(value))
		require.NoError(t, err)
		want, acks = append(want, value), append(acks, ack)
		if i == n/3 {
			// Records are in flight: the leader hands over and stops meanwhile.
			_, err := acks[0].Wait(t.Context())
			require.NoError(t, err)
			c.stop(old)
		}
	}
	require.NoError(t, p.Close(t.Context()))

	// Every record was acknowledged, at the offset of its place in the order sent,
	// and every server holds them so, once each.
	requireInOrder(t, acks)
	c.waitForRecords(want)
	require.Greater(t, len(rec.served(api.Log_ProduceBatchStream_FullMethodName)), 1,
		"the producer went on at the new leader")
}

// sendRecords sends n records, "record-0", "record-1", ..., through p, and returns
// them and their Acks.
func sendRecords(t *testing.T, p *client.Producer, n int) (values []string, acks []*client.Ack) {
	t.Helper()
	for i := range n {
		value := fmt.Sprintf("record-%d", i)
		ack, err := p.Send(t.Context(), []byte(value))
		require.NoError(t, err)
		values, acks = append(values, value), append(acks, ack)
	}
	return values, acks
}

// requireInOrder requires every record of acks to be acknowledged at the offset of its
// place in the order sent.
func requireInOrder(t *testing.T, acks []*client.Ack) {
	t.Helper()
	for i, ack := range acks {
		off, err := ack.Wait(t.Context())
		require.NoError(t, err, "record %d", i)
		require.Equal(t, uint64(i), off, "offset of record %d", i)
	}
}

// lostStreamAnswer is a client stream interceptor for ProduceBatchStream: when the
// answer number at arrives, the batch it answers having been applied, it ends the
// stream, runs stopServer and reports a broken connection in place of the answer. It
// counts the batches and records sent.
type lostStreamAnswer struct {
	at         int
	stopServer func()

	mu       sync.Mutex
	answers  int
	sequence map[uint64]int // sequence number → how many times it was sent
	records  int            // records sent, in all batches
}

func (l *lostStreamAnswer) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if method != api.Log_ProduceBatchStream_FullMethodName {
		return streamer(ctx, desc, cc, method, opts...)
	}
	ctx, cancel := context.WithCancel(ctx)
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &lossyStream{ClientStream: s, l: l, cancel: cancel}, nil
}

type lossyStream struct {
	grpc.ClientStream
	l      *lostStreamAnswer
	cancel context.CancelFunc
}

func (s *lossyStream) SendMsg(m any) error {
	s.l.mu.Lock()
	req := m.(*api.ProduceBatchRequest)
	s.l.sequence[req.Sequence]++
	s.l.records += len(req.Records)
	s.l.mu.Unlock()
	return s.ClientStream.SendMsg(m)
}

func (s *lossyStream) RecvMsg(m any) error {
	if err := s.ClientStream.RecvMsg(m); err != nil {
		return err
	}
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	s.l.answers++
	if s.l.at == 0 || s.l.answers != s.l.at {
		return nil
	}
	s.cancel() // the old leader stops only once its streams have ended
	s.l.stopServer()
	return status.Error(codes.Unavailable, "the connection broke before the answer arrived")
}

func TestAProducerRetriesAcrossALeaderChangeOnce(t *testing.T) {
	c := newCluster(t, 3)
	old := c.leader()
	lost := &lostStreamAnswer{at: 5, stopServer: func() { c.stop(old) }, sequence: map[uint64]int{}}
	cfg := c.clientConfig(nil)
	cfg.DialOptions = []grpc.DialOption{grpc.WithChainStreamInterceptor(lost.intercept)}
	cl := c.newClient(cfg)
	p, err := cl.NewProducer(client.ProducerConfig{Window: 16})
	require.NoError(t, err)

	want, acks := sendRecords(t, p, 200)
	require.NoError(t, p.Close(t.Context()))
	requireInOrder(t, acks)
	// The 5th batch was applied, its answer lost, and sent again with the same
	// sequence number: the new leader recognised it.
	require.Greater(t, lost.sequence[5], 1, "the batch whose answer was lost was sent again")
	c.waitForRecords(want)
}

func TestAProducerFailsARecordAlone(t *testing.T) {
	c := newCluster(t, 1, func(cfg *agent.Config) {
		cfg.Segment = storage.SegmentConfig{MaxStoreBytes: 64 << 10}
	})
	cl := c.newClient(c.clientConfig(nil))
	p, err := cl.NewProducer(client.ProducerConfig{})
	require.NoError(t, err)

	var acks []*client.Ack
	for _, value := range [][]byte{[]byte("first"), make([]byte, 65<<10), []byte("third")} {
		ack, err := p.Send(t.Context(), value)
		require.NoError(t, err)
		acks = append(acks, ack)
	}
	err = p.Flush(t.Context())
	var e *client.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, api.ReasonRecordTooLarge, e.Reason)
	require.Equal(t, client.AppliedNo, e.Applied)
	require.NoError(t, p.Flush(t.Context()), "Flush reports a failure once")

	off, err := acks[0].Wait(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(0), off)
	_, err = acks[1].Wait(t.Context())
	require.ErrorAs(t, err, &e)
	require.Equal(t, api.ReasonRecordTooLarge, e.Reason)
	off, err = acks[2].Wait(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(1), off)

	require.NoError(t, p.Close(t.Context()))
	_, err = p.Send(t.Context(), []byte("late"))
	require.ErrorIs(t, err, client.ErrClosed)
	c.waitForRecords([]string{"first", "third"})
}

func TestAnIdleProducerLetsTheLeaderStop(t *testing.T) {
	c := newCluster(t, 3)
	cl := c.newClient(c.clientConfig(nil))
	p, err := cl.NewProducer(client.ProducerConfig{})
	require.NoError(t, err)
	send := func(value string) uint64 {
		t.Helper()
		ack, err := p.Send(t.Context(), []byte(value))
		require.NoError(t, err)
		off, err := ack.Wait(t.Context())
		require.NoError(t, err)
		return off
	}
	require.Equal(t, uint64(0), send("before"))

	// A server stops gracefully once its streams end: an idle Producer's must, or
	// the stop would wait out its timeout and fail.
	c.stop(c.leader())
	require.Equal(t, uint64(1), send("after"))
	require.NoError(t, p.Close(t.Context()))
	c.waitForRecords([]string{"before", "after"})
}

func TestAProducerSendsWhatWaitsInBatches(t *testing.T) {
	c := newCluster(t, 3)
	count := &lostStreamAnswer{sequence: map[uint64]int{}} // loses nothing: counts
	cfg := c.clientConfig(nil)
	cfg.DialOptions = []grpc.DialOption{grpc.WithChainStreamInterceptor(count.intercept)}
	cl := c.newClient(cfg)
	p, err := cl.NewProducer(client.ProducerConfig{Window: 1000})
	require.NoError(t, err)

	const n = 3000
	want, acks := sendRecords(t, p, n)
	require.NoError(t, p.Close(t.Context()))
	requireInOrder(t, acks)
	c.waitForRecords(want)

	// Records sent while others were in flight went together: far fewer batches than
	// records. (A stream that failed on the way, as one may on a busy machine where a
	// heartbeat comes late and the leader changes, sends its batches again: counted
	// once each here, by sequence number.)
	count.mu.Lock()
	defer count.mu.Unlock()
	t.Logf("%d records in %d batches; %d records sent in all", n, len(count.sequence), count.records)
	require.GreaterOrEqual(t, count.records, n)
	require.Less(t, len(count.sequence), n/10, "batches for %d records", n)
}

func TestAProducerFailsARecordOfABatchAlone(t *testing.T) {
	c := newCluster(t, 1, func(cfg *agent.Config) {
		cfg.Segment = storage.SegmentConfig{MaxStoreBytes: 64 << 10}
	})
	cl := c.newClient(c.clientConfig(nil))
	p, err := cl.NewProducer(client.ProducerConfig{})
	require.NoError(t, err)

	// A record too large among many small ones: whatever batches they went in, only
	// it fails, and the others are in the log once, in the order sent.
	var (
		acks []*client.Ack
		want []string
	)
	const n, tooLarge = 400, 200
	for i := range n {
		value := []byte(fmt.Sprintf("record-%d", i))
		if i == tooLarge {
			value = make([]byte, 65<<10)
		} else {
			want = append(want, string(value))
		}
		ack, err := p.Send(t.Context(), value)
		require.NoError(t, err)
		acks = append(acks, ack)
	}
	var e *client.Error
	require.ErrorAs(t, p.Flush(t.Context()), &e)
	require.Equal(t, api.ReasonRecordTooLarge, e.Reason)
	for i, ack := range acks {
		off, err := ack.Wait(t.Context())
		switch {
		case i == tooLarge:
			require.ErrorAs(t, err, &e)
			require.Equal(t, api.ReasonRecordTooLarge, e.Reason)
			require.Equal(t, client.AppliedNo, e.Applied)
		case i < tooLarge:
			require.NoError(t, err, "record %d", i)
			require.Equal(t, uint64(i), off, "record %d", i)
		default:
			require.NoError(t, err, "record %d", i)
			require.Equal(t, uint64(i-1), off, "record %d", i)
		}
	}
	require.NoError(t, p.Close(t.Context()))
	c.waitForRecords(want)
}

// blackHole is a client stream interceptor: while it is on, a ProduceBatchStream goes
// nowhere: its batches are dropped before they leave the client, and once one was
// sent, the stream fails as a broken connection would.
type blackHole struct {
	on    atomic.Bool
	ended atomic.Int32 // real streams that have ended
}

func (b *blackHole) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if method != api.Log_ProduceBatchStream_FullMethodName {
		return streamer(ctx, desc, cc, method, opts...)
	}
	if b.on.Load() {
		return &lostStream{ctx: ctx, sent: make(chan struct{})}, nil
	}
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &watchedStream{ClientStream: s, ended: &b.ended}, nil
}

// watchedStream counts its end.
type watchedStream struct {
	grpc.ClientStream
	ended *atomic.Int32
	once  sync.Once
}

func (s *watchedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.once.Do(func() { s.ended.Add(1) })
	}
	return err
}

// lostStream is a stream whose messages are lost.
type lostStream struct {
	grpc.ClientStream // nil: only the methods below are called
	ctx               context.Context
	once              sync.Once
	sent              chan struct{}
}

func (s *lostStream) Context() context.Context { return s.ctx }
func (s *lostStream) CloseSend() error         { return nil }
func (s *lostStream) SendMsg(any) error {
	s.once.Do(func() { close(s.sent) })
	return nil
}

func (s *lostStream) RecvMsg(any) error {
	select {
	case <-s.sent:
		return status.Error(codes.Unavailable, "the connection broke")
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// When a Producer gives up on batches it had numbered (its retry budget ran out), the
// servers never saw them: the records sent afterwards must not wait behind a gap in
// the sequence numbers for ever.
func TestAProducerGoesOnAfterGivingUp(t *testing.T) {
	c := newCluster(t, 1)
	hole := &blackHole{}
	cfg := c.clientConfig(nil)
	cfg.DialOptions = []grpc.DialOption{grpc.WithChainStreamInterceptor(hole.intercept)}
	cfg.Retry = client.RetryPolicy{MaxAttempts: 2}
	cl := c.newClient(cfg)
	p, err := cl.NewProducer(client.ProducerConfig{})
	require.NoError(t, err)
	send := func(value string) (uint64, error) {
		t.Helper()
		ack, err := p.Send(t.Context(), []byte(value))
		require.NoError(t, err)
		return ack.Wait(t.Context())
	}

	off, err := send("first")
	require.NoError(t, err)
	require.Equal(t, uint64(0), off)

	// The idle stream ends; the next goes nowhere.
	require.Eventually(t, func() bool { return hole.ended.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	hole.on.Store(true)
	_, err = send("lost")
	var e *client.Error
	require.ErrorAs(t, err, &e, "the retry budget ran out")
	require.Equal(t, client.AppliedNo, e.Applied, "its streams never reached a server")
	require.Error(t, p.Flush(t.Context()))

	hole.on.Store(false)
	off, err = send("after")
	require.NoError(t, err)
	require.Equal(t, uint64(1), off)
	require.NoError(t, p.Close(t.Context()))
	c.waitForRecords([]string{"first", "after"})
}
