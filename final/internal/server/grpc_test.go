package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/auth"
	"golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/testenv"
)

// waitFor bounds every wait in these tests; they never sleep.
const waitFor = 10 * time.Second

// fixture is a gRPC server over a fresh log (one server that leads), with mutual TLS
// and the ACL, and a client connected to it as root over real TCP on 127.0.0.1.
type fixture struct {
	log    *consensus.DistributedLog
	server *GRPCServer
	client api.LogClient // root: may produce and consume
	addr   string
	certs  testenv.CertFiles
}

func newFixture(t testing.TB, wrap func(Log) Log) *fixture {
	t.Helper()
	return newFixtureWith(t, wrap, nil)
}

// newFixtureWith is newFixture with a chance to change the server's config (tune may
// be nil) before the server starts.
func newFixtureWith(t testing.TB, wrap func(Log) Log, tune func(*GRPCConfig)) *fixture {
	t.Helper()
	l := newTestLog(t)
	var served Log = l
	if wrap != nil {
		served = wrap(l)
	}
	certs := testenv.Certs(t)
	serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	acl, err := auth.New(testenv.ACL(t))
	require.NoError(t, err)
	cfg := GRPCConfig{Log: served, TLS: serverTLS, Authorizer: acl, Logger: testenv.Logger(t)}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := NewGRPCServer(cfg)
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Shutdown(context.Background()))
		require.NoError(t, <-serveErr)
	})

	f := &fixture{log: l, server: srv, addr: lis.Addr().String(), certs: certs}
	f.client = f.dial(t, grpc.WithTransportCredentials(f.clientTLS(t, certs.RootClientCertFile, certs.RootClientKeyFile)))
	return f
}

// clientTLS returns credentials that present the given client certificate (none if
// the paths are empty) and trust the fixture's CA.
func (f *fixture) clientTLS(t testing.TB, certFile, keyFile string) credentials.TransportCredentials {
	t.Helper()
	tlsConfig, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certFile, KeyFile: keyFile, CAFile: f.certs.CAFile, ServerAddress: "127.0.0.1",
	})
	require.NoError(t, err)
	return credentials.NewTLS(tlsConfig)
}

// dial returns a client of the fixture's server with the given credentials.
func (f *fixture) dial(t testing.TB, creds grpc.DialOption) api.LogClient {
	t.Helper()
	conn, err := grpc.NewClient(f.addr, creds)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	return api.NewLogClient(conn)
}

// dialConn returns a connection to the fixture's server with the given credentials.
func (f *fixture) dialConn(t testing.TB, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	return conn
}

func record(value string) *api.Record { return &api.Record{Value: []byte(value)} }

func requireCode(t *testing.T, want codes.Code, err error) {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a gRPC status: %v", err)
	require.Equal(t, want.String(), st.Code().String(), "status: %v", err)
}

func TestProduceConsume(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	for i, value := range []string{"first", "second", "third"} {
		res, err := f.client.Produce(ctx, &api.ProduceRequest{Record: record(value)})
		require.NoError(t, err)
		require.Equal(t, uint64(i), res.Offset)
	}
	res, err := f.client.Consume(ctx, &api.ConsumeRequest{Offset: 1})
	require.NoError(t, err)
	require.Equal(t, "second", string(res.Record.Value))
	require.Equal(t, uint64(1), res.Record.Offset)
	require.NotZero(t, res.Record.RaftIndex, "the server says which Raft entry wrote it")
	require.NotZero(t, res.Record.TimeUnixNano, "and when")
}

func TestConsumePastTheEndIsOutOfRange(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	_, err := f.client.Produce(ctx, &api.ProduceRequest{Record: record("only")})
	require.NoError(t, err)

	_, err = f.client.Consume(ctx, &api.ConsumeRequest{Offset: 1})
	requireCode(t, codes.OutOfRange, err)
	st := status.Convert(err)
	require.Contains(t, st.Message(), "offset 1 is out of range")
	require.Len(t, st.Details(), 1)
	info, ok := st.Details()[0].(*errdetails.ErrorInfo)
	require.True(t, ok, "detail is %T", st.Details()[0])
	require.Equal(t, api.ReasonOffsetOutOfRange, info.Reason)
	require.Equal(t, "1", info.Metadata["offset"])
	require.Equal(t, "0", info.Metadata["lowest"])
	require.Equal(t, "1", info.Metadata["next"])
}

func TestProduceWithoutRecordIsInvalid(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.client.Produce(t.Context(), &api.ProduceRequest{})
	requireCode(t, codes.InvalidArgument, err)
	require.Equal(t, uint64(0), f.log.Status().NextOffset, "a rejected produce appended a record")
}

func TestProduceStreamAnswersInOrder(t *testing.T) {
	f := newFixture(t, nil)
	stream, err := f.client.ProduceStream(t.Context())
	require.NoError(t, err)
	const n = 50
	for i := range n {
		require.NoError(t, stream.Send(&api.ProduceRequest{Record: record(string(rune('a' + i%26)))}))
	}
	require.NoError(t, stream.CloseSend())
	for want := range uint64(n) {
		res, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, want, res.Offset)
	}
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF)
}

func TestConsumeStreamReceivesOldAndNewRecords(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	for _, v := range []string{"old-0", "old-1"} {
		_, err := f.client.Produce(ctx, &api.ProduceRequest{Record: record(v)})
		require.NoError(t, err)
	}
	stream, err := f.client.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
	require.NoError(t, err)
	for i, want := range []string{"old-0", "old-1"} {
		res, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, uint64(i), res.Record.Offset)
		require.Equal(t, want, string(res.Record.Value))
	}
	// The stream is now at the end of the log and waits; records produced
	// after it subscribed reach it.
	for i, v := range []string{"new-2", "new-3"} {
		_, err := f.client.Produce(ctx, &api.ProduceRequest{Record: record(v)})
		require.NoError(t, err)
		res, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, uint64(i+2), res.Record.Offset)
		require.Equal(t, v, string(res.Record.Value))
	}
}

// countingLog counts reads, to show that a waiting ConsumeStream does not
// poll the log.
type countingLog struct {
	Log
	reads atomic.Int64
}

func (c *countingLog) Read(ctx context.Context, off uint64, cons consensus.Consistency) (*api.Record, error) {
	c.reads.Add(1)
	return c.Log.Read(ctx, off, cons)
}

func (c *countingLog) ReadBatch(ctx context.Context, off uint64, limit int, cons consensus.Consistency) ([]*api.Record, error) {
	c.reads.Add(1)
	return c.Log.ReadBatch(ctx, off, limit, cons)
}

func TestConsumeStreamWaitsWithoutPolling(t *testing.T) {
	var counter *countingLog
	f := newFixture(t, func(l Log) Log {
		counter = &countingLog{Log: l}
		return counter
	})
	ctx := t.Context()
	stream, err := f.client.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
	require.NoError(t, err)

	const n = 20
	for i := range uint64(n) {
		_, err := f.client.Produce(ctx, &api.ProduceRequest{Record: record("x")})
		require.NoError(t, err)
		res, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, i, res.Record.Offset)
	}
	// Each record costs one successful read, and each wake-up at most one
	// read that finds the end: at most 2 reads per record, plus the first.
	// A loop that polled while waiting would read far more often.
	require.LessOrEqual(t, counter.reads.Load(), int64(2*n+1))
}

func TestConsumeStreamEndsWhenClientCancels(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("r")})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := f.client.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
	require.NoError(t, err)
	_, err = stream.Recv() // the stream is established and now waits
	require.NoError(t, err)
	cancel()
	_, err = stream.Recv()
	requireCode(t, codes.Canceled, err)
}

func TestConsumeStreamEndsOnShutdown(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	_, err := f.client.Produce(ctx, &api.ProduceRequest{Record: record("r")})
	require.NoError(t, err)
	stream, err := f.client.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
	require.NoError(t, err)
	_, err = stream.Recv() // the stream is established and now waits
	require.NoError(t, err)

	shutdown := make(chan error, 1)
	go func() { shutdown <- f.server.Shutdown(context.Background()) }()
	_, err = stream.Recv()
	requireCode(t, codes.Unavailable, err)
	select {
	case err := <-shutdown:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("Shutdown did not return")
	}
}

func TestConcurrentProducersGetDenseOffsets(t *testing.T) {
	f := newFixture(t, nil)
	const producers, each = 8, 25
	offsets := make(chan uint64, producers*each)
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for range producers {
		wg.Go(func() {
			for range each {
				res, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("c")})
				if err != nil {
					errs <- err
					return
				}
				offsets <- res.Offset
			}
		})
	}
	wg.Wait()
	close(errs)
	close(offsets)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := make(map[uint64]bool)
	for off := range offsets {
		require.False(t, seen[off], "offset %d given twice", off)
		seen[off] = true
	}
	for off := range uint64(producers * each) {
		require.True(t, seen[off], "offset %d never given", off)
	}
}

func TestNewGRPCServerRefusesAnIncompleteConfig(t *testing.T) {
	l := newTestLog(t)
	certs := testenv.Certs(t)
	serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	acl, err := auth.New(testenv.ACL(t))
	require.NoError(t, err)
	noClientAuth := serverTLS.Clone()
	noClientAuth.ClientAuth = tls.VerifyClientCertIfGiven

	tests := []struct {
		name    string
		cfg     GRPCConfig
		wantErr string
	}{
		{"no log", GRPCConfig{TLS: serverTLS, Authorizer: acl}, "GRPCConfig.Log is required"},
		{"no TLS", GRPCConfig{Log: l, Authorizer: acl}, "never served in plaintext"},
		{"client certificates optional", GRPCConfig{Log: l, TLS: noClientAuth, Authorizer: acl}, "must require and verify client certificates"},
		{"no authorizer", GRPCConfig{Log: l, TLS: serverTLS}, "GRPCConfig.Authorizer is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGRPCServer(tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// A ProduceStream that is open when the server stops ends at once, with what it had
// proposed answered, and does not hold the stop up: an idle producer would otherwise
// keep GracefulStop waiting.
func TestProduceStreamEndsOnShutdown(t *testing.T) {
	f := newFixture(t, nil)
	stream, err := f.client.ProduceStream(t.Context())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&api.ProduceRequest{Record: record("r"), ProducerId: "p", Sequence: 1}))
	res, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, uint64(0), res.Offset)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- f.server.Shutdown(ctx) }()
	_, err = stream.Recv()
	requireCode(t, codes.Unavailable, err)
	info, ok := api.ErrorInfoOf(err)
	require.True(t, ok)
	require.Equal(t, api.ReasonShuttingDown, info.Reason)
	require.NoError(t, <-shutdown, "the stream did not hold the graceful stop up")
}

// Records of one producer on a stream are appended in sequence: one that does not
// follow the producer's previous record is refused, not applied.
func TestProduceStreamRefusesAGap(t *testing.T) {
	f := newFixture(t, nil)
	stream, err := f.client.ProduceStream(t.Context())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&api.ProduceRequest{Record: record("a"), ProducerId: "p", Sequence: 1}))
	require.NoError(t, stream.Send(&api.ProduceRequest{Record: record("c"), ProducerId: "p", Sequence: 3}))
	res, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, uint64(0), res.Offset)
	_, err = stream.Recv()
	requireCode(t, codes.FailedPrecondition, err)
	info, ok := api.ErrorInfoOf(err)
	require.True(t, ok)
	require.Equal(t, api.ReasonSequenceGap, info.Reason)
	require.Equal(t, api.AppliedNo, api.WasApplied(err))
	require.Equal(t, uint64(1), f.log.Status().NextOffset, "c was not appended")
}

// A ProduceBatchStream appends each batch whole at consecutive offsets and answers
// each in order; a batch repeated with its producer ID and sequence number is not
// appended again; an empty batch ends the stream, not applied.
func TestProduceBatchStreamAnswersEachBatchInOrder(t *testing.T) {
	f := newFixture(t, nil)
	stream, err := f.client.ProduceBatchStream(t.Context())
	require.NoError(t, err)
	batches := [][]string{{"a", "b", "c"}, {"d"}, {"e", "f"}}
	for i, values := range batches {
		req := &api.ProduceBatchRequest{ProducerId: "p", Sequence: uint64(i + 1)}
		for _, v := range values {
			req.Records = append(req.Records, record(v))
		}
		require.NoError(t, stream.Send(req))
	}
	// The second batch again: a retry.
	require.NoError(t, stream.Send(&api.ProduceBatchRequest{Records: []*api.Record{record("d")}, ProducerId: "p", Sequence: 2}))
	require.NoError(t, stream.Send(&api.ProduceBatchRequest{ProducerId: "p", Sequence: 4}))
	for _, want := range []*api.ProduceBatchResponse{
		{FirstOffset: 0, Count: 3}, {FirstOffset: 3, Count: 1}, {FirstOffset: 4, Count: 2},
		{FirstOffset: 3, Count: 1, Duplicate: true},
	} {
		res, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, want.FirstOffset, res.FirstOffset)
		require.Equal(t, want.Count, res.Count)
		require.Equal(t, want.Duplicate, res.Duplicate)
	}
	_, err = stream.Recv()
	requireCode(t, codes.InvalidArgument, err)
	require.Equal(t, api.AppliedNo, api.WasApplied(err))
	for i, want := range []string{"a", "b", "c", "d", "e", "f"} {
		res, err := f.client.Consume(t.Context(), &api.ConsumeRequest{Offset: uint64(i)})
		require.NoError(t, err)
		require.Equal(t, want, string(res.Record.Value))
	}
	require.Equal(t, uint64(6), f.log.Status().NextOffset)
}

// A ConsumeStream that asks for batches gets consecutive records, several a message and
// never more than it asked for, and then the new ones as they come.
func TestConsumeStreamSendsBatchesWhenAsked(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	const n, batch = 100, 16
	values := make([]*api.Record, n)
	for i := range values {
		values[i] = record(fmt.Sprint("old-", i))
	}
	_, err := f.client.ProduceBatch(ctx, &api.ProduceBatchRequest{Records: values})
	require.NoError(t, err)
	stream, err := f.client.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0, Batch: batch})
	require.NoError(t, err)
	var next uint64
	messages := 0
	for next < n {
		res, err := stream.Recv()
		require.NoError(t, err)
		require.Nil(t, res.Record, "a batched stream sends records, not record")
		require.NotEmpty(t, res.Records)
		require.LessOrEqual(t, len(res.Records), batch)
		for _, rec := range res.Records {
			require.Equal(t, next, rec.Offset)
			require.Equal(t, fmt.Sprint("old-", next), string(rec.Value))
			next++
		}
		messages++
	}
	require.Less(t, messages, n/2, "records in %d messages", messages)

	_, err = f.client.Produce(ctx, &api.ProduceRequest{Record: record("new")})
	require.NoError(t, err)
	res, err := stream.Recv()
	require.NoError(t, err)
	require.Len(t, res.Records, 1)
	require.Equal(t, uint64(n), res.Records[0].Offset)
	require.Equal(t, "new", string(res.Records[0].Value))
}
