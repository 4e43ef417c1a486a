package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/client"
	"golog/internal/agent"
	"golog/internal/storage"
)

func TestProducesGoToTheLeaderConsumesToTheFollowers(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	rec := newRecorder()
	cl := c.newClient(c.clientConfig(rec))

	var want []string
	for i := range 20 {
		value := fmt.Sprintf("record-%d", i)
		off, err := cl.Produce(t.Context(), []byte(value))
		require.NoError(t, err)
		require.Equal(t, uint64(i), off, "offset of %s", value)
		want = append(want, value)
	}
	require.Equal(t, map[string]int{lead.rpcAddr: 20}, rec.served(api.Log_Produce_FullMethodName))

	// The followers' connections may still be on their way: once both have served a
	// read, every read goes to a follower, one after the other.
	followers := c.followers(lead)
	require.Eventually(t, func() bool {
		_, err := cl.Consume(t.Context(), 0, client.Linearizable)
		require.NoError(t, err)
		served := rec.served(api.Log_Consume_FullMethodName)
		return served[followers[0].rpcAddr] > 0 && served[followers[1].rpcAddr] > 0
	}, waitFor, tick, "both followers serve reads")
	rec.reset()
	for i, value := range want {
		got, err := cl.Consume(t.Context(), uint64(i), client.Linearizable)
		require.NoError(t, err)
		require.Equal(t, value, string(got.Value))
		require.Equal(t, uint64(i), got.Offset)
	}
	require.Equal(t, map[string]int{followers[0].rpcAddr: 10, followers[1].rpcAddr: 10},
		rec.served(api.Log_Consume_FullMethodName))

	// Other methods go to any server; Servers names the leader.
	servers, err := cl.Servers(t.Context())
	require.NoError(t, err)
	require.Len(t, servers, 3)
	for _, s := range servers {
		require.Equal(t, s.ID == lead.name, s.Leader, "server %s", s.ID)
		require.Equal(t, c.byAddr(s.Addr).name, s.ID)
	}
}

func TestProducesSurviveALeaderChange(t *testing.T) {
	c := newCluster(t, 3)
	cl := c.newClient(c.clientConfig(nil))

	// Three goroutines produce, one record after the other each, until told to stop:
	// before, while and after the leader stops. Every Produce must succeed.
	var (
		mu       sync.Mutex
		byOffset = map[uint64]string{}
		produced atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		errs     = make(chan error, 3)
	)
	for g := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				value := fmt.Sprintf("g%d-%d", g, i)
				off, err := cl.Produce(t.Context(), []byte(value))
				if err != nil {
					errs <- fmt.Errorf("produce %s: %w", value, err)
					return
				}
				mu.Lock()
				prev, dup := byOffset[off]
				byOffset[off] = value
				mu.Unlock()
				if dup {
					errs <- fmt.Errorf("offset %d acknowledged twice: %s and %s", off, prev, value)
					return
				}
				produced.Add(1)
			}
		})
	}
	waitForCount := func(n int64) {
		t.Helper()
		require.Eventually(t, func() bool { return produced.Load() >= n || len(errs) > 0 }, waitFor, tick)
	}
	waitForCount(30)
	old := c.leader()
	c.stop(old)
	next := c.leader()
	require.NotEqual(t, old.name, next.name)
	after := produced.Load()
	waitForCount(after + 30)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Every acknowledged record is in every server's log once, at its offset, and
	// nothing else is.
	want := make([]string, len(byOffset))
	for off, value := range byOffset {
		require.Less(t, off, uint64(len(want)), "offsets are not consecutive")
		want[off] = value
	}
	c.waitForRecords(want)
}

// lostAnswer is a client interceptor that, the first time it sees a Produce of value,
// lets it through, then runs stopServer and answers UNAVAILABLE in place of the
// server's answer: a write applied whose answer was lost with its leader.
type lostAnswer struct {
	value      string
	stopServer func()

	mu       sync.Mutex
	first    *api.ProduceResponse // the answer that was lost
	attempts []*api.ProduceRequest
	answers  []*api.ProduceResponse
}

func (l *lostAnswer) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	pr, ok := req.(*api.ProduceRequest)
	if !ok || string(pr.Record.Value) != l.value {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	err := invoker(ctx, method, req, reply, cc, opts...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts = append(l.attempts, pr)
	if err != nil {
		return err
	}
	res := reply.(*api.ProduceResponse)
	l.answers = append(l.answers, res)
	if l.first != nil {
		return nil
	}
	l.first = res
	l.stopServer()
	return status.Error(codes.Unavailable, "the connection broke before the answer arrived")
}

func TestARetryAcrossALeaderChangeLandsOnce(t *testing.T) {
	c := newCluster(t, 3)
	old := c.leader()
	lost := &lostAnswer{value: "once", stopServer: func() { c.stop(old) }}
	cfg := c.clientConfig(nil)
	cfg.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(lost.intercept)}
	cl := c.newClient(cfg)

	_, err := cl.Produce(t.Context(), []byte("before"))
	require.NoError(t, err)
	off, err := cl.Produce(t.Context(), []byte("once"))
	require.NoError(t, err)
	_, err = cl.Produce(t.Context(), []byte("after"))
	require.NoError(t, err)

	// The first attempt was applied by the old leader; the retry, with the same
	// producer ID and sequence number, reached the new one, which recognised it.
	require.NotNil(t, lost.first)
	require.Equal(t, uint64(1), lost.first.Offset)
	require.Equal(t, lost.first.Offset, off)
	require.GreaterOrEqual(t, len(lost.attempts), 2)
	for _, a := range lost.attempts[1:] {
		require.Equal(t, lost.attempts[0].ProducerId, a.ProducerId)
		require.Equal(t, lost.attempts[0].Sequence, a.Sequence)
	}
	require.Len(t, lost.answers, 2)
	require.True(t, lost.answers[1].Duplicate, "the retry was taken for a new record")
	c.waitForRecords([]string{"before", "once", "after"})
}

func TestFollowResumesOnAnotherServer(t *testing.T) {
	c := newCluster(t, 3)
	rec := newRecorder()
	cl := c.newClient(c.clientConfig(rec))
	var want []string
	produce := func(n int) {
		t.Helper()
		for range n {
			value := fmt.Sprintf("record-%d", len(want))
			_, err := cl.Produce(t.Context(), []byte(value))
			require.NoError(t, err)
			want = append(want, value)
		}
	}
	produce(10)

	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		rec client.Record
		err error
	}
	results := make(chan result)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		for r, err := range cl.Follow(ctx, 0, client.Linearizable) {
			select {
			case results <- result{r, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-followed
	})
	next := func(offset int) {
		t.Helper()
		r := <-results
		require.NoError(t, r.err)
		require.Equal(t, uint64(offset), r.rec.Offset)
		require.Equal(t, want[offset], string(r.rec.Value))
	}
	for i := range 10 {
		next(i)
	}

	streams := rec.served(api.Log_ConsumeStream_FullMethodName)
	require.Len(t, streams, 1, "streams opened: %v", streams)
	var first string
	for addr := range streams {
		first = addr
	}
	require.NotEqual(t, c.leader().rpcAddr, first, "Follow reads from a follower")
	c.stop(c.byAddr(first))

	produce(10)
	for i := 10; i < 20; i++ {
		next(i)
	}
	streams = rec.served(api.Log_ConsumeStream_FullMethodName)
	require.Len(t, streams, 2, "streams opened: %v", streams)
	require.Equal(t, 1, streams[first])
}

func TestTheResolverFollowsTheCluster(t *testing.T) {
	c := newCluster(t, 3)
	seed := c.nodes[0] // it bootstrapped the cluster: the leader, most likely
	rec := newRecorder()
	cl := c.newClient(c.clientConfig(rec, seed))
	_, err := cl.Produce(t.Context(), []byte("something to read"))
	require.NoError(t, err)

	// A server added later gets its share of the reads.
	readsReach := func(nd *node) {
		t.Helper()
		require.Eventually(t, func() bool {
			_, err := cl.Consume(t.Context(), 0, client.Linearizable)
			require.NoError(t, err)
			return rec.served(api.Log_Consume_FullMethodName)[nd.rpcAddr] > 0
		}, waitFor, tick, "no read reached %s", nd.name)
	}
	readsReach(c.add())
	c.waitForServers()

	// The seed goes away: the client finds the cluster through the servers it knows,
	// and finds a server added since.
	c.stop(seed)
	readsReach(c.add())
	c.waitForServers()
	_, err = cl.Produce(t.Context(), []byte("after the seed left"))
	require.NoError(t, err)
	servers, err := cl.Servers(t.Context())
	require.NoError(t, err)
	require.Len(t, servers, 4)
	require.False(t, slices.ContainsFunc(servers, func(s client.Server) bool { return s.ID == seed.name }))
}

func TestStatus(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	cl := c.newClient(c.clientConfig(nil))
	_, err := cl.ProduceBatch(t.Context(), [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	require.NoError(t, err)

	statuses, err := cl.Status(t.Context())
	require.NoError(t, err)
	require.Len(t, statuses, 3)
	for _, st := range statuses {
		require.NoError(t, st.Err, "status of %s", st.ID)
		require.Equal(t, c.byAddr(st.Addr).name, st.ID)
		require.Equal(t, lead.name, st.LeaderID, "the leader %s knows of", st.ID)
		require.Equal(t, st.ID == lead.name, st.Leader)
		if st.Leader {
			require.Equal(t, "Leader", st.State)
			require.Equal(t, uint64(3), st.NextOffset, "the leader acknowledged the batch")
			require.True(t, st.LastContact.IsZero())
		} else {
			require.Equal(t, "Follower", st.State)
		}
	}
}

func TestProduceAndConsume(t *testing.T) {
	c := newCluster(t, 3, func(cfg *agent.Config) {
		cfg.Segment = storage.SegmentConfig{MaxStoreBytes: 64 << 10}
	})
	cl := c.newClient(c.clientConfig(nil))

	first, err := cl.ProduceBatch(t.Context(), [][]byte{[]byte("a"), []byte("b")})
	require.NoError(t, err)
	require.Equal(t, uint64(0), first)
	off, err := cl.Produce(t.Context(), []byte("c"))
	require.NoError(t, err)
	require.Equal(t, uint64(2), off)
	for _, consistency := range []client.Consistency{client.Linearizable, client.Local} {
		// A local read on a follower may not have the newest record yet.
		require.Eventually(t, func() bool {
			r, err := cl.Consume(t.Context(), 2, consistency)
			return err == nil && string(r.Value) == "c"
		}, waitFor, tick, "%s read", consistency)
	}

	_, err = cl.ProduceBatch(t.Context(), nil)
	require.ErrorIs(t, err, client.ErrNoRecords)

	t.Run("out of range", func(t *testing.T) {
		_, err := cl.Consume(t.Context(), 3, client.Linearizable)
		var e *client.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, codes.OutOfRange, e.Code)
		require.Equal(t, api.ReasonOffsetOutOfRange, e.Reason)
		require.Equal(t, "", e.Applied)
		require.Equal(t, 1, e.Attempts, "an offset out of range is not retried")
		oor, ok := api.OutOfRangeOf(err)
		require.True(t, ok)
		require.Equal(t, api.OutOfRange{Offset: 3, Lowest: 0, Next: 3}, api.OutOfRange{Offset: oor.Offset, Lowest: oor.Lowest, Next: oor.Next})
	})
	t.Run("too large", func(t *testing.T) {
		_, err := cl.Produce(t.Context(), make([]byte, 65<<10))
		var e *client.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, client.AppliedNo, e.Applied)
		require.Equal(t, api.ReasonRecordTooLarge, e.Reason)
		require.Equal(t, 1, e.Attempts, "a record too large is not retried")
	})
	t.Run("larger than a gRPC message", func(t *testing.T) {
		_, err := cl.Produce(t.Context(), make([]byte, 5<<20))
		var e *client.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, client.AppliedNo, e.Applied)
		require.Equal(t, codes.ResourceExhausted, e.Code)
		require.Equal(t, 1, e.Attempts)
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := cl.Produce(ctx, []byte("never"))
		var e *client.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, client.AppliedNo, e.Applied, "a call that never left the client was not applied: %v", err)
		require.Equal(t, codes.Canceled, e.Code)
	})
	c.waitForRecords([]string{"a", "b", "c"})
}

func TestAClosedClient(t *testing.T) {
	c := newCluster(t, 1)
	cl, err := client.New(t.Context(), c.clientConfig(nil))
	require.NoError(t, err)
	p, err := cl.NewProducer(client.ProducerConfig{})
	require.NoError(t, err)
	require.NoError(t, cl.Close())
	require.NoError(t, cl.Close(), "Close is idempotent")

	_, err = cl.Produce(t.Context(), []byte("x"))
	require.ErrorIs(t, err, client.ErrClosed)
	_, err = cl.Consume(t.Context(), 0, client.Linearizable)
	require.ErrorIs(t, err, client.ErrClosed)
	_, err = p.Send(t.Context(), []byte("x"))
	require.ErrorIs(t, err, client.ErrClosed)
	_, err = cl.NewProducer(client.ProducerConfig{})
	require.ErrorIs(t, err, client.ErrClosed)
}

func TestSecurityErrors(t *testing.T) {
	c := newCluster(t, 1)
	for _, tc := range []struct {
		name      string
		cert, key string
		ca        string
		code      codes.Code
		reason    string
		message   string
	}{
		{"the ACL denies nobody", c.certs.NobodyClientCertFile, c.certs.NobodyClientKeyFile, c.certs.CAFile,
			codes.PermissionDenied, "", `"nobody" may not consume`},
		{"no certificate", "", "", c.certs.CAFile,
			codes.Unavailable, client.ReasonTLSHandshake, "tls: certificate required"},
		{"a certificate of another CA", c.certs.OtherCAClientCertFile, c.certs.OtherCAClientKeyFile, c.certs.CAFile,
			codes.Unavailable, client.ReasonTLSHandshake, "tls: unknown certificate authority"},
		{"an expired certificate", c.certs.ExpiredClientCertFile, c.certs.ExpiredClientKeyFile, c.certs.CAFile,
			codes.Unavailable, client.ReasonTLSHandshake, "tls: expired certificate"},
		{"a server of another CA", c.certs.RootClientCertFile, c.certs.RootClientKeyFile, c.certs.OtherCAFile,
			codes.Unavailable, client.ReasonTLSHandshake, "x509: certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := c.clientConfig(nil)
			cfg.TLS = c.tlsConfigWithCA(tc.cert, tc.key, tc.ca, false)
			cl, err := client.New(t.Context(), cfg)
			require.Nil(t, cl)
			var e *client.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "connect", e.Op)
			require.Equal(t, tc.code, e.Code, "%v", err)
			require.Equal(t, tc.reason, e.Reason, "%v", err)
			require.Contains(t, err.Error(), tc.message)
			require.True(t, strings.HasPrefix(err.Error(), "connect: "+c.nodes[0].rpcAddr+": "), "%v", err)
		})
	}

	t.Run("no server", func(t *testing.T) {
		cfg := c.clientConfig(nil)
		cfg.Addrs = []string{"127.0.0.1:1"}
		_, err := client.New(t.Context(), cfg)
		var e *client.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, codes.Unavailable, e.Code, "%v", err)
		require.Equal(t, "", e.Reason)
	})
	t.Run("bad config", func(t *testing.T) {
		_, err := client.New(t.Context(), client.Config{TLS: c.rootTLS})
		require.Error(t, err)
		_, err = client.New(t.Context(), client.Config{Addrs: []string{c.nodes[0].rpcAddr}})
		require.Error(t, err)
		require.False(t, errors.As(err, new(*client.Error)))
	})
}
