package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/consensus"
	"golog/internal/storage"
)

// Log is what the servers need from the replicated log; *consensus.DistributedLog is
// one. Every method must be safe for concurrent use.
type Log interface {
	// Propose hands an append to the log and returns without waiting for it to
	// commit; appends proposed one after the other from one goroutine keep their order.
	Propose(ctx context.Context, req consensus.AppendRequest) (*consensus.Proposal, error)
	// Append proposes an append and waits for it.
	Append(ctx context.Context, req consensus.AppendRequest) (consensus.AppendResult, error)
	// Read returns the record at an offset, as fresh as asked.
	Read(ctx context.Context, off uint64, c consensus.Consistency) (*storage.Record, error)
	// ReadBatch returns the record at an offset, as fresh as asked, and up to limit-1
	// of those after it that this server has applied.
	ReadBatch(ctx context.Context, off uint64, limit int, c consensus.Consistency) ([]*storage.Record, error)
	// Appended returns a channel closed when records are next applied here.
	Appended() <-chan struct{}
	// ReadIndex returns the leader's confirmed commit index; only the leader answers.
	ReadIndex(ctx context.Context) (uint64, error)
	// Status reports this server's view of the cluster and of its log.
	Status() consensus.Status
	// GetServers lists the cluster's servers.
	GetServers() ([]*consensus.Server, error)
}

var _ Log = (*consensus.DistributedLog)(nil)

// GRPCConfig configures a GRPCServer.
type GRPCConfig struct {
	// Log is the log the service reads and writes. Required.
	Log Log
	// TLS is the server's TLS configuration. Required, and it must demand and verify
	// client certificates (tls.RequireAndVerifyClientCert, as config.SetupTLSConfig
	// sets for a server): the certificate is how the server knows who is calling.
	TLS *tls.Config
	// Authorizer decides which RPCs each client may call. Required.
	Authorizer Authorizer
	// StreamWindow is how many ProduceStream records may be committing at once on one
	// stream. Zero means DefaultStreamWindow.
	StreamWindow int
	// Logger receives one debug line per RPC; nil discards.
	Logger *slog.Logger
}

// DefaultStreamWindow is GRPCConfig.StreamWindow's default.
const DefaultStreamWindow = 1024

// GRPCServer serves the Log and Cluster services. Create it with NewGRPCServer, start
// it with Serve and stop it with Shutdown.
type GRPCServer struct {
	grpc     *grpc.Server
	health   *health.Server
	stopping chan struct{} // closed by Shutdown: ends every ConsumeStream and health Watch
	stopOnce sync.Once
}

// NewGRPCServer returns a server for the Log and Cluster services over cfg.Log. It
// serves TLS only, and checks every RPC, unary or stream, with cfg.Authorizer before the
// handler runs. opts are passed to grpc.NewServer after the server's own.
func NewGRPCServer(cfg GRPCConfig, opts ...grpc.ServerOption) (*GRPCServer, error) {
	switch {
	case cfg.Log == nil:
		return nil, errors.New("grpc server: GRPCConfig.Log is required")
	case cfg.TLS == nil:
		return nil, errors.New("grpc server: GRPCConfig.TLS is required: the service is never served in plaintext")
	case cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert:
		return nil, errors.New("grpc server: GRPCConfig.TLS must require and verify client certificates")
	case cfg.Authorizer == nil:
		return nil, errors.New("grpc server: GRPCConfig.Authorizer is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	window := cfg.StreamWindow
	if window <= 0 {
		window = DefaultStreamWindow
	}
	gate := gatekeeper{acl: cfg.Authorizer, logger: logger}
	opts = append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(cfg.TLS)),
		grpc.ChainUnaryInterceptor(gate.unary),
		grpc.ChainStreamInterceptor(gate.stream),
	}, opts...)
	s := &GRPCServer{stopping: make(chan struct{}), health: health.NewServer()}
	s.grpc = grpc.NewServer(opts...)
	api.RegisterLogServer(s.grpc, &logService{log: cfg.Log, window: window, logger: logger, stopping: s.stopping})
	api.RegisterClusterServer(s.grpc, &clusterService{log: cfg.Log})
	healthpb.RegisterHealthServer(s.grpc, healthService{Server: s.health, stopping: s.stopping})
	s.SetServing(false)
	reflection.Register(s.grpc)
	return s, nil
}

// Serve accepts connections on l until Shutdown. It returns nil after a
// Shutdown and the listener's error otherwise.
func (s *GRPCServer) Serve(l net.Listener) error {
	err := s.grpc.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Shutdown stops the server. Open ConsumeStreams end with UNAVAILABLE at
// once (they would otherwise wait for records for ever), then in-flight
// RPCs get until ctx is done to finish before connections are closed.
// It is safe to call more than once.
func (s *GRPCServer) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.health.Shutdown() // NOT_SERVING from now on
		close(s.stopping)
	})
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
		return fmt.Errorf("grpc server: graceful stop: %w", ctx.Err())
	}
}

// logService implements api.LogServer over a Log.
type logService struct {
	api.UnimplementedLogServer
	log      Log
	window   int
	logger   *slog.Logger
	stopping <-chan struct{}
}

var _ api.LogServer = (*logService)(nil)

// appendRequest checks a produce request's fields and returns the append it asks for.
func appendRequest(records []*api.Record, producer string, seq uint64) (consensus.AppendRequest, error) {
	if len(records) == 0 {
		return consensus.AppendRequest{}, api.WriteError(codes.InvalidArgument, api.ReasonInvalidRequest,
			api.AppliedNo, "produce: the request has no record")
	}
	if producer != "" && seq == 0 {
		return consensus.AppendRequest{}, api.WriteError(codes.InvalidArgument, api.ReasonInvalidRequest,
			api.AppliedNo, "produce: a request with a producer_id needs a sequence number from 1 on")
	}
	req := consensus.AppendRequest{Values: make([][]byte, len(records)), ProducerID: producer, Sequence: seq}
	for i, r := range records {
		if r == nil {
			return consensus.AppendRequest{}, api.WriteError(codes.InvalidArgument, api.ReasonInvalidRequest,
				api.AppliedNo, fmt.Sprintf("produce: record %d is missing", i))
		}
		req.Values[i] = r.Value
	}
	return req, nil
}

// Produce appends req.Record and answers with its offset.
func (s *logService) Produce(ctx context.Context, req *api.ProduceRequest) (*api.ProduceResponse, error) {
	ar, err := appendRequest([]*api.Record{req.GetRecord()}, req.GetProducerId(), req.GetSequence())
	if err != nil {
		return nil, err
	}
	res, err := s.log.Append(ctx, ar)
	if err != nil {
		return nil, toStatus(err)
	}
	s.logger.DebugContext(ctx, "produced", "offset", res.Offset, "bytes", len(req.Record.Value), "duplicate", res.Duplicate)
	return &api.ProduceResponse{Offset: res.Offset, Duplicate: res.Duplicate}, nil
}

// ProduceBatch appends req.Records at consecutive offsets, all or none.
func (s *logService) ProduceBatch(ctx context.Context, req *api.ProduceBatchRequest) (*api.ProduceBatchResponse, error) {
	ar, err := appendRequest(req.GetRecords(), req.GetProducerId(), req.GetSequence())
	if err != nil {
		return nil, err
	}
	res, err := s.log.Append(ctx, ar)
	if err != nil {
		return nil, toStatus(err)
	}
	s.logger.DebugContext(ctx, "produced a batch", "offset", res.Offset, "records", res.Count, "duplicate", res.Duplicate)
	return &api.ProduceBatchResponse{FirstOffset: res.Offset, Count: uint32(res.Count), Duplicate: res.Duplicate}, nil
}

// ProduceStream appends every record the client sends and answers each request, in
// order, with its offset. It pipelines: one goroutine reads requests and proposes them
// to the log in the order they came, so they are appended in that order, while this one
// waits for each proposal in turn and answers; up to the window's worth of records
// commit together. A request with a producer ID is proposed as ordered: its sequence
// number must follow the producer's previous one, so that a record cannot overtake
// one sent before it that failed (the log refuses it, not applied, SEQUENCE_GAP).
//
// It ends when the client closes its side and every answer is sent (OK); at the first
// error, which answers that request (the records after it that were proposed may have
// been applied: a producer resends them with their sequence numbers); or when the
// server shuts down: it stops reading, answers what it proposed, and ends with
// UNAVAILABLE SHUTTING_DOWN, the records not answered not applied.
func (s *logService) ProduceStream(stream grpc.BidiStreamingServer[api.ProduceRequest, api.ProduceResponse]) error {
	return serveProduceStream(s, stream, func(req *api.ProduceRequest) (consensus.AppendRequest, error) {
		return appendRequest([]*api.Record{req.GetRecord()}, req.GetProducerId(), req.GetSequence())
	}, func(res consensus.AppendResult) *api.ProduceResponse {
		return &api.ProduceResponse{Offset: res.Offset, Duplicate: res.Duplicate}
	})
}

// ProduceBatchStream is ProduceStream with a batch in each request, appended all or
// none at consecutive offsets (as ProduceBatch appends one), and its first offset and
// count in each answer. One sequence number covers a batch.
func (s *logService) ProduceBatchStream(stream grpc.BidiStreamingServer[api.ProduceBatchRequest, api.ProduceBatchResponse]) error {
	return serveProduceStream(s, stream, func(req *api.ProduceBatchRequest) (consensus.AppendRequest, error) {
		return appendRequest(req.GetRecords(), req.GetProducerId(), req.GetSequence())
	}, func(res consensus.AppendResult) *api.ProduceBatchResponse {
		return &api.ProduceBatchResponse{FirstOffset: res.Offset, Count: uint32(res.Count), Duplicate: res.Duplicate}
	})
}

// serveProduceStream serves a produce stream whose requests ask for the appends
// request returns, each answered with what response makes of its result (see
// ProduceStream).
func serveProduceStream[Req, Res any](s *logService, stream grpc.BidiStreamingServer[Req, Res],
	request func(*Req) (consensus.AppendRequest, error), response func(consensus.AppendResult) *Res) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	ps := &produceStream[Req, Res]{log: s.log, stream: stream, request: request, response: response,
		out: make(chan proposed, s.window)}
	go ps.proposeAll(ctx)
	for {
		select {
		case p, ok := <-ps.out:
			if !ok {
				return nil
			}
			if err := ps.answer(ctx, p); err != nil {
				return err
			}
		case <-s.stopping:
			return ps.stop(ctx)
		}
	}
}

// produceStream is the state of one produce stream.
type produceStream[Req, Res any] struct {
	log      Log
	stream   grpc.BidiStreamingServer[Req, Res]
	request  func(*Req) (consensus.AppendRequest, error)
	response func(consensus.AppendResult) *Res
	out      chan proposed // what proposeAll proposed, in order; closed when it returns

	mu       sync.Mutex
	stopped  bool // guarded by mu: proposeAll proposes nothing more
	pushed   int  // guarded by mu: items proposeAll has sent, or decided to send, to out
	answered int  // items answered; the answering goroutine's alone
}

// proposed is one request of a produce stream: its proposal, or the error that ends
// the stream (io.EOF excluded: the channel is closed then).
type proposed struct {
	proposal *consensus.Proposal
	err      error
}

// answer waits for p and sends its answer.
func (ps *produceStream[Req, Res]) answer(ctx context.Context, p proposed) error {
	ps.answered++
	if p.err != nil {
		return p.err
	}
	res, err := p.proposal.Wait(ctx)
	if err != nil {
		return toStatus(err)
	}
	return ps.stream.Send(ps.response(res))
}

// stop makes proposeAll propose nothing more, answers what it proposed, and returns
// the error that ends the stream.
func (ps *produceStream[Req, Res]) stop(ctx context.Context) error {
	ps.mu.Lock()
	ps.stopped = true
	pushed := ps.pushed
	ps.mu.Unlock()
	for ps.answered < pushed {
		if err := ps.answer(ctx, <-ps.out); err != nil {
			return err
		}
	}
	return api.WriteError(codes.Unavailable, api.ReasonShuttingDown, api.AppliedNo,
		"produce stream: the server is shutting down; the records not answered were not proposed")
}

// proposeAll reads the requests of the stream and proposes each, in order, sending the
// proposals to out, which it closes when the client closes its side, after an error,
// or once the stream is stopped.
func (ps *produceStream[Req, Res]) proposeAll(ctx context.Context) {
	defer close(ps.out)
	for {
		req, err := ps.stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		p, ok := ps.propose(ctx, req, err)
		if !ok {
			return
		}
		select {
		case ps.out <- p:
		case <-ctx.Done():
			return
		}
		if p.err != nil {
			return
		}
	}
}

// propose proposes req (unless the stream is stopped: then ok is false), or carries
// recvErr.
func (ps *produceStream[Req, Res]) propose(ctx context.Context, req *Req, recvErr error) (p proposed, ok bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.stopped {
		return proposed{}, false
	}
	ps.pushed++
	if recvErr != nil {
		return proposed{err: recvErr}, true
	}
	ar, err := ps.request(req)
	if err != nil {
		return proposed{err: err}, true
	}
	ar.Ordered = ar.ProducerID != ""
	prop, err := ps.log.Propose(ctx, ar)
	if err != nil {
		return proposed{err: toStatus(err)}, true
	}
	return proposed{proposal: prop}, true
}

// consistency returns the consistency a request asks for.
func consistency(c api.Consistency) (consensus.Consistency, error) {
	switch c {
	case api.Consistency_CONSISTENCY_UNSPECIFIED, api.Consistency_CONSISTENCY_LINEARIZABLE:
		return consensus.Linearizable, nil
	case api.Consistency_CONSISTENCY_LOCAL:
		return consensus.Local, nil
	}
	return 0, status.Errorf(codes.InvalidArgument, "unknown consistency %d", c)
}

// Consume answers with the record at req.Offset.
func (s *logService) Consume(ctx context.Context, req *api.ConsumeRequest) (*api.ConsumeResponse, error) {
	c, err := consistency(req.GetConsistency())
	if err != nil {
		return nil, err
	}
	rec, err := s.log.Read(ctx, req.Offset, c)
	if err != nil {
		return nil, toStatus(err)
	}
	s.logger.DebugContext(ctx, "consumed", "offset", req.Offset, "consistency", c)
	return &api.ConsumeResponse{Record: rec}, nil
}

// consumeBatch is how many records ConsumeStream reads at a time.
const consumeBatch = 256

// ConsumeStream sends the record at req.Offset and every one after it. The first read
// is as fresh as asked (a linearizable one makes sure this server has every record
// acknowledged before the stream began); the rest follow what this server applies: at
// the end of the log it waits on the log's Appended signal, so an idle stream costs no
// CPU. A client that asks for batches (req.Batch) gets up to that many records a
// message, as many as one read returned: a message each costs more than the record
// in it when records are small. It ends when the client cancels (CANCELED), the server
// shuts down (UNAVAILABLE) or a read fails.
func (s *logService) ConsumeStream(req *api.ConsumeRequest, stream grpc.ServerStreamingServer[api.ConsumeResponse]) error {
	ctx := stream.Context()
	c, err := consistency(req.GetConsistency())
	if err != nil {
		return err
	}
	offset := req.Offset
	for {
		// Take the signal before reading: a record appended between the
		// read and the wait then still wakes us.
		appended := s.log.Appended()
		// Records are read consumeBatch at a time, with one read from disk.
		recs, err := s.log.ReadBatch(ctx, offset, consumeBatch, c)
		switch {
		case err == nil:
			if err := sendRecords(stream, recs, req.GetBatch()); err != nil {
				return err
			}
			offset += uint64(len(recs))
			c = consensus.Local
			continue
		case isPastTheEnd(err, offset):
			// Not written yet: wait for it below.
			c = consensus.Local
		default:
			return toStatus(err)
		}
		select {
		case <-appended:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return api.Error(codes.Unavailable, api.ReasonShuttingDown, "consume stream: the server is shutting down", nil)
		}
	}
}

// sendRecords sends recs on a ConsumeStream: one a message, or, when the client asked
// for batches, up to batch a message.
func sendRecords(stream grpc.ServerStreamingServer[api.ConsumeResponse], recs []*api.Record, batch uint32) error {
	if batch <= 1 {
		for _, rec := range recs {
			if err := stream.Send(&api.ConsumeResponse{Record: rec}); err != nil {
				return err
			}
		}
		return nil
	}
	for len(recs) > 0 {
		n := min(len(recs), int(batch))
		if err := stream.Send(&api.ConsumeResponse{Records: recs[:n]}); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// GetServers lists the servers of the cluster, and which one leads.
func (s *logService) GetServers(ctx context.Context, req *api.GetServersRequest) (*api.GetServersResponse, error) {
	servers, err := s.log.GetServers()
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &api.GetServersResponse{Servers: make([]*api.Server, len(servers))}
	for i, srv := range servers {
		resp.Servers[i] = &api.Server{Id: srv.ID, RpcAddr: srv.RPCAddr, IsLeader: srv.IsLeader}
	}
	return resp, nil
}

// GetStatus reports this server's Raft state and log positions.
func (s *logService) GetStatus(ctx context.Context, req *api.GetStatusRequest) (*api.GetStatusResponse, error) {
	st := s.log.Status()
	resp := &api.GetStatusResponse{
		Id: st.ID, State: st.State, Term: st.Term, LeaderId: st.LeaderID, LeaderAddr: st.LeaderAddr,
		LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		LowestOffset: st.LowestOffset, NextOffset: st.NextOffset, Ready: st.Ready,
	}
	if !st.LastContact.IsZero() {
		resp.LastContactUnixNano = st.LastContact.UnixNano()
	}
	return resp, nil
}

// isPastTheEnd reports whether err says offset is not written yet, as opposed to
// removed or never valid.
func isPastTheEnd(err error, offset uint64) bool {
	e, ok := errors.AsType[storage.ErrOffsetOutOfRange](err)
	return ok && offset >= e.Next
}

// clusterService implements api.ClusterServer: what servers ask each other.
type clusterService struct {
	api.UnimplementedClusterServer
	log Log
}

// ReadIndex answers with the leader's confirmed commit index.
func (s *clusterService) ReadIndex(ctx context.Context, req *api.ReadIndexRequest) (*api.ReadIndexResponse, error) {
	index, err := s.log.ReadIndex(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &api.ReadIndexResponse{Index: index}, nil
}
