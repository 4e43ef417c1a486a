package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
)

// DefaultRefreshInterval is Config.RefreshInterval's default.
const DefaultRefreshInterval = 2 * time.Second

// Config configures a Client.
type Config struct {
	// Addrs are the "host:port" addresses of some of the cluster's servers (their RPC
	// port), to find the others through. At least one. Once the client knows the
	// servers, it finds them again through any of them, so the seeds may go away.
	Addrs []string
	// TLS is the client's TLS configuration. Required: golog's servers serve TLS only.
	// It must trust the servers' CA (RootCAs) and, for mutual TLS, hold the client's
	// certificate, whose Common Name the servers' ACL knows. Leave ServerName empty:
	// each server's certificate is checked against the host of its own address.
	TLS *tls.Config
	// RefreshInterval is how often the client asks for the servers and the leader,
	// besides when a server answers NOT_LEADER or a connection breaks. Zero means
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// Retry bounds the retries of each call; the zero value means the defaults.
	Retry RetryPolicy
	// Logger receives the client's logs (a failed poll for the servers, ...). Nil
	// discards them.
	Logger *slog.Logger
	// DialOptions are added to the options of the client's connection to the servers:
	// interceptors, a stats handler for tracing, ... They do not apply to the
	// resolver's own connections (see the package documentation).
	DialOptions []grpc.DialOption
}

// RetryPolicy bounds how a Client retries a call that failed in a way another attempt
// may cure (see the package documentation). Every call is bounded by its context as
// well; a retry never outlives it.
type RetryPolicy struct {
	// MaxAttempts is how many times a call is sent at most, the first time included.
	// Zero means 10; 1 turns retries off. For Follow and a Producer's stream, it counts
	// the failures in a row without a record between them.
	MaxAttempts int
	// InitialBackoff is the wait before the first retry; it doubles with each retry up
	// to MaxBackoff. Each wait is drawn at random between half of it and all of it, so
	// that clients failing together do not retry together. Zero means 25ms.
	InitialBackoff time.Duration
	// MaxBackoff bounds the wait between two attempts. Zero means 1s.
	MaxBackoff time.Duration
}

// withDefaults returns p with its zero fields set to the defaults.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 10
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = 25 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = time.Second
	}
	return p
}

// backoff returns how long to wait after the failed attempt number attempt (from 1).
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.InitialBackoff
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d/2 + randDuration(d/2+1)
}

// randDuration returns a random duration in [0, n); n must be positive.
func randDuration(n time.Duration) time.Duration {
	return time.Duration(mrand.Int64N(int64(n)))
}

// sleep waits for d, or until ctx ends, and then returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Consistency says how fresh a read must be.
type Consistency int

const (
	// Linearizable reads reflect every write acknowledged before the read began, on
	// whichever server answers: a record that is not found was never written.
	Linearizable Consistency = iota
	// Local reads answer from what the server that answers has applied, at once: a
	// follower may be a moment behind the leader.
	Local
)

func (c Consistency) proto() api.Consistency {
	if c == Local {
		return api.Consistency_CONSISTENCY_LOCAL
	}
	return api.Consistency_CONSISTENCY_LINEARIZABLE
}

func (c Consistency) String() string {
	if c == Local {
		return "local"
	}
	return "linearizable"
}

// A Record is one record of the log.
type Record struct {
	// Offset is its position in the log: 0, 1, 2, ...
	Offset uint64
	// Value is what the producer wrote. It belongs to the caller.
	Value []byte
	// Time is when the leader accepted it.
	Time time.Time
}

func recordOf(r *api.Record) Record {
	return Record{Offset: r.GetOffset(), Value: r.GetValue(), Time: time.Unix(0, r.GetTimeUnixNano())}
}

// A Server is one server of the cluster.
type Server struct {
	// ID is its name in the cluster.
	ID string
	// Addr is its RPC address.
	Addr string
	// Leader is true for the one server that accepts writes.
	Leader bool
}

// ServerStatus is one server's view of the cluster and of its log (GetStatus), or why
// it could not be had.
type ServerStatus struct {
	Server
	// Err is why the server did not answer; the fields below are zero then.
	Err error

	// State is Leader, Follower, Candidate or Shutdown.
	State string
	Term  uint64
	// LeaderID and LeaderAddr name the leader this server knows of.
	LeaderID, LeaderAddr string
	// The Raft indexes: the newest entry this server has, the newest it knows to be
	// committed, the newest its records reflect.
	LastIndex, CommitIndex, AppliedIndex uint64
	// The records it holds: offsets [LowestOffset, NextOffset).
	LowestOffset, NextOffset uint64
	// Ready is false while the server catches up after a start (it serves no reads).
	Ready bool
	// LastContact is when a follower last heard from the leader; zero on the leader.
	LastContact time.Time
}

// A Client is a connection to a golog cluster: it finds the servers and their leader,
// sends writes to the leader and spreads reads over the followers, and retries what
// can be retried safely. Create it with New and release it with Close. It is safe for
// concurrent use.
type Client struct {
	conn       *grpc.ClientConn
	log        api.LogClient
	retry      RetryPolicy
	logger     *slog.Logger
	producerID string
	seqs       *sequencer
	trigger    chan struct{} // asks the resolver to poll now; capacity 1
	producers  atomic.Uint64 // Producers made, to name them

	mu     sync.Mutex
	closed bool                   // guarded by mu
	open   map[*Producer]struct{} // the Producers not closed yet; guarded by mu
}

// New connects to the cluster that the servers at cfg.Addrs belong to. It returns once
// it has asked them for the cluster's servers and one answered; if none does (they
// are unreachable, refuse the client's certificate, or their ACL denies it), or ctx
// ends first, it returns an *Error with Op "connect". From then on the client keeps
// the list up to date by itself.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("client: Config.Addrs is empty: give the address of at least one server")
	}
	if cfg.TLS == nil {
		return nil, errors.New("client: Config.TLS is required: golog's servers serve TLS only")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	interval := cfg.RefreshInterval
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	id, err := newProducerID()
	if err != nil {
		return nil, err
	}
	creds := newCreds(cfg.TLS)
	c := &Client{
		retry:      cfg.Retry.withDefaults(),
		logger:     logger,
		producerID: id,
		seqs:       newSequencer(MaxWindow),
		trigger:    make(chan struct{}, 1),
		open:       map[*Producer]struct{}{},
	}
	first := newFirstPoll()
	builder := &resolverBuilder{
		seeds:    cfg.Addrs,
		creds:    creds,
		interval: interval,
		trigger:  c.trigger,
		first:    first,
		logger:   logger,
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithResolvers(builder),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig": [{%q: {}}]}`, balancerName)),
	}, cfg.DialOptions...)
	// The target's path is for people reading logs; the resolver takes the seeds
	// from its builder.
	conn, err := grpc.NewClient(scheme+":///"+strings.Join(cfg.Addrs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	conn.Connect() // builds the resolver, whose first poll New waits for
	select {
	case <-first.done:
		err = first.err
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = conn.Close() // it never served a call
		return nil, connectError(err)
	}
	c.conn, c.log = conn, api.NewLogClient(conn)
	return c, nil
}

// connectError returns New's error for err, the first poll's: its code and reason are
// those of the most telling server's error, one that is not UNAVAILABLE if there is
// one (a denied certificate says more than a server that is down).
func connectError(err error) *Error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return newError("connect", "", 1, err)
	}
	leaves := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		leaves = j.Unwrap()
	}
	telling := leaves[0]
	for _, l := range leaves {
		if status.Code(l) != codes.Unavailable || isHandshakeFailure(l) {
			telling = l
			break
		}
	}
	e := newError("connect", "", len(leaves), telling)
	e.Err = err
	return e
}

// newProducerID returns a random producer ID: 128 bits, so that no two producers
// ever share one.
func newProducerID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("client: a producer ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ProducerID returns the producer ID under which the client's Produce and
// ProduceBatch calls are numbered.
func (c *Client) ProducerID() string { return c.producerID }

// Close closes the Producers still open, failing their records not acknowledged yet,
// and the connection; calls in flight fail. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	producers := make([]*Producer, 0, len(c.open))
	for p := range c.open {
		producers = append(producers, p)
	}
	c.mu.Unlock()
	for _, p := range producers {
		p.abort(ErrClosed)
	}
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("client: close: %w", err)
	}
	return nil
}

// isClosed reports whether Close was called.
func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// resolveNow asks the resolver to find the servers again, without waiting for it.
func (c *Client) resolveNow() {
	select {
	case c.trigger <- struct{}{}:
	default: // asked already
	}
}

// An attempt is one try of a call: fn sends it with ctx, which carries the route, and
// opts, which record the server that answered.
type attempt func(ctx context.Context, opts ...grpc.CallOption) error

// call runs send until it succeeds, fails in a way another attempt will not cure, the
// retry budget runs out, or ctx ends; then it returns an *Error for op. A write (write
// set) tracks whether any of its attempts may have been applied; whatever the
// attempts, it must send the same producer ID and sequence number every time, which
// is what makes retrying a maybe-applied write safe.
//
// Between attempts it waits with a backoff. A NOT_LEADER answer makes it ask the
// resolver to poll and send the next attempt to the leader the answer named; another
// failure sends the next attempt elsewhere when it can (route.avoid), so that a read
// goes to another server.
func (c *Client) call(ctx context.Context, op string, write bool, send attempt) error {
	if c.isClosed() {
		return ErrClosed
	}
	applied := AppliedNo
	var r route
	for n := 1; ; n++ {
		var picked atomic.Bool
		var p peer.Peer
		r.picked = &picked
		err := send(withRoute(ctx, r), grpc.Peer(&p))
		if err == nil {
			return nil
		}
		v := judge(err)
		if write && picked.Load() && v.applied == AppliedMaybe {
			applied = AppliedMaybe
		}
		giveUp := func() error {
			if !write {
				return newError(op, "", n, err)
			}
			return newError(op, applied, n, err)
		}
		if ctx.Err() != nil || !v.retry || n >= c.retry.MaxAttempts || c.isClosed() {
			return giveUp()
		}
		r = route{}
		if v.leaderAddr != "" {
			r.prefer = v.leaderAddr
		} else if p.Addr != nil {
			r.avoid = p.Addr.String()
		}
		if write {
			// The leader may have moved; the resolver's next poll should not wait.
			c.resolveNow()
		}
		c.logger.Debug("client: retrying", "op", op, "attempt", n, "err", err)
		if sleep(ctx, c.retry.backoff(n)) != nil {
			return giveUp()
		}
	}
}

// Servers returns the servers of the cluster, as one of them sees it.
func (c *Client) Servers(ctx context.Context) ([]Server, error) {
	var res *api.GetServersResponse
	err := c.call(ctx, "servers", false, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		res, err = c.log.GetServers(ctx, &api.GetServersRequest{}, opts...)
		return err
	})
	if err != nil {
		return nil, err
	}
	servers := make([]Server, len(res.Servers))
	for i, s := range res.Servers {
		servers[i] = Server{ID: s.Id, Addr: s.RpcAddr, Leader: s.IsLeader}
	}
	return servers, nil
}

// Status asks every server of the cluster (Servers) for its status, at once, and
// returns their answers in the order Servers gives. A server that does not answer has
// its Err set; Status itself fails only when Servers does.
func (c *Client) Status(ctx context.Context) ([]ServerStatus, error) {
	servers, err := c.Servers(ctx)
	if err != nil {
		return nil, err
	}
	statuses := make([]ServerStatus, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() { statuses[i] = c.status(ctx, s) })
	}
	wg.Wait()
	return statuses, nil
}

// status asks server s for its status, over the client's connection to it.
func (c *Client) status(ctx context.Context, s Server) ServerStatus {
	st := ServerStatus{Server: s}
	res, err := c.log.GetStatus(withRoute(ctx, route{pin: s.Addr}), &api.GetStatusRequest{})
	if err != nil {
		st.Err = newError("status", "", 1, err)
		return st
	}
	st.State, st.Term = res.State, res.Term
	st.LeaderID, st.LeaderAddr = res.LeaderId, res.LeaderAddr
	st.LastIndex, st.CommitIndex, st.AppliedIndex = res.LastIndex, res.CommitIndex, res.AppliedIndex
	st.LowestOffset, st.NextOffset = res.LowestOffset, res.NextOffset
	st.Ready = res.Ready
	if res.LastContactUnixNano != 0 {
		st.LastContact = time.Unix(0, res.LastContactUnixNano)
	}
	return st
}
