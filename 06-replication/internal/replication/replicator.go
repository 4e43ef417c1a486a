package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	api "golog/api/v1"
	"golog/internal/log"
)

// How long a peer's replication waits before it opens a new stream after the last one
// broke: retryMin after a stream that copied something, then twice as long after each
// stream that did not, up to retryMax.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 5 * time.Second
)

// LocalLog is where a Replicator appends the records it copies; *log.Log is one.
//
// Append must be safe for concurrent use: the Replicator calls it from one goroutine per
// peer. It must store the record's Value and Origin as given, and return the offset it
// stored the record at; the Replicator does not use the record afterwards.
type LocalLog interface {
	Append(record *log.Record) (uint64, error)
}

var _ LocalLog = (*log.Log)(nil)

// Config configures a Replicator.
type Config struct {
	// Log is the local log the copies are appended to. Required. It must keep each
	// record's Origin: give the Replicator the log itself, not the view of it that the
	// servers use, which stamps records with this server's name.
	Log LocalLog
	// DialOptions are passed to grpc.NewClient for every peer. They must carry
	// transport credentials for mutual TLS, with a client certificate whose subject the
	// peers' ACL allows to consume: a server replicates as a client of its peers.
	DialOptions []grpc.DialOption
	// Logger receives an Info line when replication from a peer starts or stops, a
	// Warn line per broken stream and a Debug line per record copied, each with the
	// key peer. Nil discards.
	Logger *slog.Logger
}

// Replicator copies into the local log the records produced on the other servers of
// the cluster. It is told about them through Join and Leave, the discovery.Handler
// methods; see the package documentation for what it copies and when. Its methods are
// safe for concurrent use.
type Replicator struct {
	log         LocalLog
	dialOptions []grpc.DialOption
	logger      *slog.Logger

	// mu guards the fields below. It is held while a peer's goroutine is stopped and
	// waited for; those goroutines never take it, so that cannot deadlock.
	mu     sync.Mutex
	peers  map[string]*peer  // the peers replicated from now, by name
	resume map[string]uint64 // where replication from a stopped peer goes on, by name
	closed bool
}

// peer is the replication from one other server: a goroutine (run) that follows the
// peer's log and copies what it finds.
type peer struct {
	name   string
	addr   string
	logger *slog.Logger
	cancel context.CancelFunc // stops the goroutine
	done   chan struct{}      // closed when the goroutine has returned

	// next is the offset in the peer's log to ask for next: everything before it has
	// been copied or skipped. Only the goroutine uses it until done is closed.
	next uint64
}

// New returns a Replicator that appends to config.Log. It starts nothing until Join.
func New(config Config) (*Replicator, error) {
	if config.Log == nil {
		return nil, errors.New("replication: Config.Log is required")
	}
	logger := config.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Replicator{
		log:         config.Log,
		dialOptions: config.DialOptions,
		logger:      logger,
		peers:       make(map[string]*peer),
		resume:      make(map[string]uint64),
	}, nil
}

// Join starts copying the records produced on the server called name, whose gRPC
// server listens on addr. It returns at once; the copying goes on in the background,
// retrying for as long as the server is a member, until Leave(name) or Close.
//
// A Join for a name already replicated from at the same addr does nothing. A Join with
// a new addr (the server came back at another address) stops the old replication and
// starts one at the new address. In both cases, and after a Leave, replication goes on
// from where it stopped, so no record is copied twice while this Replicator lives.
//
// Join returns ErrClosed after Close, and nil otherwise.
func (r *Replicator) Join(name, addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if p, ok := r.peers[name]; ok {
		if p.addr == addr {
			return nil
		}
		r.stop(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{
		name:   name,
		addr:   addr,
		logger: r.logger.With("peer", name),
		cancel: cancel,
		done:   make(chan struct{}),
		next:   r.resume[name],
	}
	r.peers[name] = p
	go r.run(ctx, p)
	return nil
}

// Leave stops copying from the server called name and waits until the copying has
// stopped: once Leave returns, nothing more from that server is appended. Leave for a
// name not replicated from does nothing. It always returns nil.
func (r *Replicator) Leave(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.peers[name]; ok {
		r.stop(p)
	}
	return nil
}

// Close stops copying from every server and waits until all the copying has stopped.
// Later calls to Join return ErrClosed. Close is idempotent and always returns nil.
func (r *Replicator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	// Cancel all first, so that the peers stop in parallel, not one after the other.
	for _, p := range r.peers {
		p.cancel()
	}
	for _, p := range r.peers {
		r.stop(p)
	}
	return nil
}

// stop stops p's goroutine, waits for it, and remembers where to resume. The caller
// must hold r.mu.
func (r *Replicator) stop(p *peer) {
	p.cancel()
	<-p.done
	r.resume[p.name] = p.next
	delete(r.peers, p.name)
	p.logger.Info("stopped replicating", "peer_offset", p.next)
}

// run follows p's log until ctx is done. When the stream breaks (the peer restarts, the
// network fails, the local append fails) it waits and opens a new one where the last
// one stopped.
//
// Every attempt dials afresh, so that the waiting is done here alone: a gRPC
// ClientConn kept across attempts would add its own reconnection backoff, which grows
// to two minutes while a peer is down.
func (r *Replicator) run(ctx context.Context, p *peer) {
	defer close(p.done)
	p.logger.Info("replicating", "addr", p.addr, "peer_offset", p.next)
	retry := retryMin
	for {
		progressed, err := r.follow(ctx, p)
		if ctx.Err() != nil {
			return // Leave or Close
		}
		if progressed {
			retry = retryMin
		}
		p.logger.Warn("replication stream ended; retrying",
			"addr", p.addr, "peer_offset", p.next, "retry_in", retry, "err", err)
		if !wait(ctx, retry) {
			return
		}
		retry = min(2*retry, retryMax)
	}
}

// follow dials the peer, opens a ConsumeStream from p.next on, and appends to the local
// log every record that originated on the peer, until the stream or an append fails or
// ctx is done. It advances p.next past every record it has dealt with, and reports
// whether it advanced it at all.
func (r *Replicator) follow(ctx context.Context, p *peer) (progressed bool, err error) {
	// NewClient does no I/O: an unreachable peer makes ConsumeStream or Recv fail.
	conn, err := grpc.NewClient(p.addr, r.dialOptions...)
	if err != nil {
		return false, fmt.Errorf("replication: dial %s: %w", p.addr, err)
	}
	defer conn.Close() // ends the stream too, when returning early below
	stream, err := api.NewLogClient(conn).ConsumeStream(ctx, &api.ConsumeRequest{Offset: p.next})
	if err != nil {
		return false, err
	}
	for {
		res, err := stream.Recv()
		if err != nil {
			return progressed, err
		}
		rec := res.GetRecord()
		// Only records produced on the peer are copied. Any other one came to the peer
		// by replication from its origin, and this server copies it from there.
		if rec.GetOrigin() == p.name {
			off, err := r.log.Append(&log.Record{Value: rec.GetValue(), Origin: rec.GetOrigin()})
			if err != nil {
				return progressed, fmt.Errorf("append to the local log: %w", err)
			}
			p.logger.Debug("replicated", "peer_offset", rec.GetOffset(), "offset", off)
		}
		p.next = rec.GetOffset() + 1
		progressed = true
	}
}

// wait returns true after d, or false as soon as ctx is done.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
