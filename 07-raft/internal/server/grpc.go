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
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/log"
)

// StreamingLog is what the gRPC service needs from a log: a CommitLog that also
// says when records are appended, so that ConsumeStream can wait for them instead
// of polling. *log.Log is one; so can be a log replicated across servers.
//
// The errors of Append and Read are turned into gRPC statuses: see toStatus.
type StreamingLog interface {
	CommitLog
	// Appended returns a channel that is closed by the next Append.
	Appended() <-chan struct{}
}

var _ StreamingLog = (*log.Log)(nil)

// ServerLister lists the servers of a cluster, for GetServers.
type ServerLister interface {
	GetServers() ([]*api.Server, error)
}

// GRPCConfig configures a GRPCServer.
type GRPCConfig struct {
	// Log is the log the service reads and writes. Required.
	Log StreamingLog
	// TLS is the server's TLS configuration. Required, and it must demand and verify
	// client certificates (tls.RequireAndVerifyClientCert, as config.SetupTLSConfig
	// sets for a server): the certificate is how the server knows who is calling.
	TLS *tls.Config
	// Authorizer decides which RPCs each client may call. Required.
	Authorizer Authorizer
	// Servers answers GetServers. Nil for a server that is not part of a cluster:
	// GetServers is then UNIMPLEMENTED.
	Servers ServerLister
	// Logger receives one debug line per RPC; nil discards.
	Logger *slog.Logger
}

// GRPCServer serves the Log service. Create it with NewGRPCServer, start it
// with Serve and stop it with Shutdown.
type GRPCServer struct {
	grpc     *grpc.Server
	stopping chan struct{} // closed by Shutdown: ends every ConsumeStream
	stopOnce sync.Once
}

// NewGRPCServer returns a server for the Log service over cfg.Log. It serves TLS only,
// and checks every RPC, unary or stream, with cfg.Authorizer before the handler runs.
// opts are passed to grpc.NewServer after the server's own.
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
	gate := gatekeeper{acl: cfg.Authorizer, logger: logger}
	opts = append([]grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(cfg.TLS)),
		grpc.ChainUnaryInterceptor(gate.unary),
		grpc.ChainStreamInterceptor(gate.stream),
	}, opts...)
	s := &GRPCServer{stopping: make(chan struct{})}
	s.grpc = grpc.NewServer(opts...)
	api.RegisterLogServer(s.grpc, &logService{
		log:      cfg.Log,
		servers:  cfg.Servers,
		logger:   logger,
		stopping: s.stopping,
	})
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
	s.stopOnce.Do(func() { close(s.stopping) })
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

// logService implements api.LogServer over a StreamingLog.
type logService struct {
	api.UnimplementedLogServer
	log      StreamingLog
	servers  ServerLister // nil: not part of a cluster
	logger   *slog.Logger
	stopping <-chan struct{}
}

var _ api.LogServer = (*logService)(nil)

// Produce appends req.Record and answers with its offset.
func (s *logService) Produce(ctx context.Context, req *api.ProduceRequest) (*api.ProduceResponse, error) {
	if req.GetRecord() == nil {
		return nil, status.Error(codes.InvalidArgument, "produce: the request has no record")
	}
	off, err := s.log.Append(req.Record)
	if err != nil {
		return nil, toStatus(err)
	}
	s.logger.DebugContext(ctx, "produced", "offset", off, "bytes", len(req.Record.Value))
	return &api.ProduceResponse{Offset: off}, nil
}

// Consume answers with the record at req.Offset.
func (s *logService) Consume(ctx context.Context, req *api.ConsumeRequest) (*api.ConsumeResponse, error) {
	rec, err := s.log.Read(req.Offset)
	if err != nil {
		return nil, toStatus(err)
	}
	s.logger.DebugContext(ctx, "consumed", "offset", req.Offset)
	return &api.ConsumeResponse{Record: rec}, nil
}

// ProduceStream appends every record the client sends and answers each
// request, in order, with its offset. It ends when the client closes its
// side (io.EOF) or on the first error.
func (s *logService) ProduceStream(stream grpc.BidiStreamingServer[api.ProduceRequest, api.ProduceResponse]) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		res, err := s.Produce(stream.Context(), req)
		if err != nil {
			return err
		}
		if err := stream.Send(res); err != nil {
			return err
		}
	}
}

// ConsumeStream sends the record at req.Offset and every one after it. At
// the end of the log it waits on the log's Appended signal, so an idle
// stream costs no CPU. It ends when the client cancels (CANCELED), the
// server shuts down (UNAVAILABLE) or a read fails.
func (s *logService) ConsumeStream(req *api.ConsumeRequest, stream grpc.ServerStreamingServer[api.ConsumeResponse]) error {
	ctx := stream.Context()
	offset := req.Offset
	for {
		// Take the signal before reading: a record appended between the
		// read and the wait then still wakes us.
		appended := s.log.Appended()
		rec, err := s.log.Read(offset)
		switch {
		case err == nil:
			if err := stream.Send(&api.ConsumeResponse{Record: rec}); err != nil {
				return err
			}
			offset++
			continue
		case isPastTheEnd(err, offset):
			// Not written yet: wait for it below.
		default:
			return toStatus(err)
		}
		select {
		case <-appended:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return status.Error(codes.Unavailable, "consume stream: the server is shutting down")
		}
	}
}

// GetServers lists the servers of the cluster, and which one leads.
func (s *logService) GetServers(ctx context.Context, req *api.GetServersRequest) (*api.GetServersResponse, error) {
	if s.servers == nil {
		return nil, status.Error(codes.Unimplemented, "get servers: this server is not part of a cluster")
	}
	servers, err := s.servers.GetServers()
	if err != nil {
		return nil, toStatus(err)
	}
	return &api.GetServersResponse{Servers: servers}, nil
}

// isPastTheEnd reports whether err says offset is not written yet, as opposed to
// removed or never valid.
func isPastTheEnd(err error, offset uint64) bool {
	e, ok := errors.AsType[log.ErrOffsetOutOfRange](err)
	return ok && offset >= e.Next
}
