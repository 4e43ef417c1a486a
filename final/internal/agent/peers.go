package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	api "golog/api/v1"
	"golog/internal/consensus"
)

// peers holds this server's gRPC connections to the other servers, which it opens with
// its own server certificate: a follower asks the leader for read indexes
// (linearizable reads) and forwards the HTTP API's writes to it. One connection per
// address, opened on first use; gRPC reconnects it when it breaks. Safe for concurrent
// use.
type peers struct {
	tls  *tls.Config       // the client side, with the server certificate; ServerName set per peer
	opts []grpc.DialOption // more options of each connection (tracing); set before the first

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn // guarded by mu
	closed bool                        // guarded by mu
}

func newPeers(peerTLS *tls.Config) *peers {
	return &peers{tls: peerTLS, conns: map[string]*grpc.ClientConn{}}
}

// conn returns the connection to the server at addr.
func (p *peers) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, consensus.ErrClosed
	}
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("peer address %q: %w", addr, err)
	}
	config := p.tls.Clone()
	config.ServerName = host
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(config))}, p.opts...)
	c, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to peer %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

// readIndex asks the leader at addr for a read index (consensus.Config.ReadIndex).
func (p *peers) readIndex(ctx context.Context, addr string) (uint64, error) {
	c, err := p.conn(addr)
	if err != nil {
		return 0, err
	}
	res, err := api.NewClusterClient(c).ReadIndex(ctx, &api.ReadIndexRequest{})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

// forward sends an append to the leader at addr (server.Forwarder). An error answered
// by the leader comes back as the AppendError it stands for, so that the HTTP API says
// whether the write was applied.
func (p *peers) forward(ctx context.Context, addr string, req consensus.AppendRequest) (consensus.AppendResult, error) {
	c, err := p.conn(addr)
	if err != nil {
		return consensus.AppendResult{}, err
	}
	records := make([]*api.Record, len(req.Values))
	for i, v := range req.Values {
		records[i] = &api.Record{Value: v}
	}
	res, err := api.NewLogClient(c).ProduceBatch(ctx, &api.ProduceBatchRequest{
		Records: records, ProducerId: req.ProducerID, Sequence: req.Sequence,
	})
	if err != nil {
		return consensus.AppendResult{}, forwardError(err)
	}
	return consensus.AppendResult{Offset: res.FirstOffset, Count: int(res.Count), Duplicate: res.Duplicate}, nil
}

// forwardError turns the gRPC error of a forwarded write into an error of this
// server's: the leader's NOT_LEADER (it lost leadership meanwhile) is an ErrNotLeader,
// any other says whether the write was applied.
func forwardError(err error) error {
	if id, addr, ok := api.LeaderOf(err); ok {
		return consensus.ErrNotLeader{LeaderID: id, LeaderAddr: addr}
	}
	reason := "FORWARD_FAILED"
	if info, ok := api.ErrorInfoOf(err); ok {
		reason = info.Reason
	}
	applied := consensus.MaybeApplied
	if api.WasApplied(err) == api.AppliedNo {
		applied = consensus.NotApplied
	}
	return &consensus.AppendError{Applied: applied, Reason: reason, Err: fmt.Errorf("forwarded to the leader: %w", err)}
}

// close closes every connection.
func (p *peers) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for _, c := range p.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
