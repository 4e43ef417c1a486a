package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/resolver"

	api "golog/api/v1"
)

// scheme is the URI scheme of a Client's target. gRPC matches schemes in lower case.
const scheme = "golog"

// Timing of the resolvers. pollTimeout bounds one GetServers call; minPollGap keeps
// requests to re-resolve (one per NOT_LEADER answer, one per broken connection) from
// turning into a storm of polls; the backoff after a failed poll doubles from
// minPollGap up to the refresh interval.
const (
	pollTimeout = 3 * time.Second
	minPollGap  = 50 * time.Millisecond
)

// firstPoll is where a Client's resolvers report how their polls go, so that New can
// wait for the first one. Safe for concurrent use.
type firstPoll struct {
	once sync.Once
	done chan struct{} // closed after the first poll
	err  error         // the first poll's error; written before done is closed
}

func newFirstPoll() *firstPoll { return &firstPoll{done: make(chan struct{})} }

// report records the outcome of a poll; only the first one counts.
func (f *firstPoll) report(err error) {
	f.once.Do(func() {
		f.err = err
		close(f.done)
	})
}

// resolverBuilder builds the resolver of one Client's connection. It is registered on
// that connection alone (grpc.WithResolvers), not in gRPC's global registry: two
// Clients with different seeds or certificates never share one. It holds only what it
// was made with; every Build returns a new, independent resolver. gRPC builds one when
// the connection starts, and again each time the connection leaves idle mode.
type resolverBuilder struct {
	seeds    []string                         // the addresses a Client was given
	creds    credentials.TransportCredentials // the Client's TLS
	interval time.Duration                    // between polls
	trigger  <-chan struct{}                  // the Client's requests to poll now (a NOT_LEADER answer)
	first    *firstPoll
	logger   *slog.Logger
}

func (b *resolverBuilder) Scheme() string { return scheme }

func (b *resolverBuilder) Build(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &clusterResolver{
		b:      b,
		cc:     cc,
		cancel: cancel,
		now:    make(chan struct{}, 1),
		done:   make(chan struct{}),
		conns:  map[string]*grpc.ClientConn{},
	}
	go r.run(ctx)
	return r, nil
}

// A clusterResolver finds the servers of the cluster and its leader by asking a server
// (GetServers), and tells gRPC. It asks again every refresh interval, because a change
// of leader breaks no connection and gRPC would not ask for it; at once when gRPC asks
// (a connection broke) or the Client does (a server answered NOT_LEADER); and, after a
// failed poll, with a backoff. Everything happens on its own goroutine: ResolveNow
// only signals it, and never blocks.
//
// A poll asks the servers one after the other, the leader first, then the other known
// servers, then the seeds it does not know yet, and takes the first answer that names
// a leader (during an election, the first answer). So the Client keeps working when
// the seeds are gone, as long as one server it knows is up. It reaches them over
// connections of its own (conns), not the Client's balanced one.
type clusterResolver struct {
	b      *resolverBuilder
	cc     resolver.ClientConn
	cancel context.CancelFunc
	now    chan struct{} // ResolveNow's signal to run
	done   chan struct{} // closed when run has returned

	// Used by run's goroutine only.
	known []*api.Server               // the servers of the last poll, the leader first
	last  []resolver.Address          // what was last given to gRPC
	conns map[string]*grpc.ClientConn // to the servers polled, by address
}

// ResolveNow asks for a poll. It may be called at any time, from any goroutine.
func (r *clusterResolver) ResolveNow(resolver.ResolveNowOptions) {
	select {
	case r.now <- struct{}{}:
	default: // a poll is due already
	}
}

// Close stops polling and waits for the goroutine, which closes its connections.
func (r *clusterResolver) Close() {
	r.cancel()
	<-r.done
}

func (r *clusterResolver) run(ctx context.Context) {
	defer close(r.done)
	defer r.closeConns(nil)
	backoff := minPollGap
	for {
		started := time.Now()
		err := r.poll(ctx)
		if ctx.Err() != nil {
			return
		}
		r.b.first.report(err)
		wait := r.b.interval
		if err != nil {
			r.b.logger.Warn("client: finding the servers failed", "err", err)
			r.cc.ReportError(err)
			wait, backoff = backoff, min(2*backoff, r.b.interval)
		} else {
			backoff = minPollGap
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-r.now:
		case <-r.b.trigger:
		case <-ctx.Done():
			timer.Stop()
			return
		}
		timer.Stop()
		// However often it is asked, it polls at most every minPollGap.
		select {
		case <-time.After(time.Until(started.Add(minPollGap))):
		case <-ctx.Done():
			return
		}
	}
}

// poll asks the servers for the cluster's servers and gives the answer to gRPC.
func (r *clusterResolver) poll(ctx context.Context) error {
	servers, err := r.getServers(ctx)
	if err != nil {
		return err
	}
	// The leader first: the next poll asks it first.
	slices.SortStableFunc(servers, func(a, b *api.Server) int {
		switch {
		case a.IsLeader == b.IsLeader:
			return 0
		case a.IsLeader:
			return -1
		}
		return 1
	})
	r.known = servers
	r.closeConns(r.candidates())
	return r.update(servers)
}

// getServers asks the candidates in turn for the servers of the cluster, and returns
// the first list with a leader, else the first list, else every error.
func (r *clusterResolver) getServers(ctx context.Context) ([]*api.Server, error) {
	var errs []error
	var leaderless []*api.Server
	for _, addr := range r.candidates() {
		callCtx, cancel := context.WithTimeout(ctx, pollTimeout)
		res, err := api.NewLogClient(r.conn(addr)).GetServers(callCtx, &api.GetServersRequest{})
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			errs = append(errs, &pollError{addr: addr, err: err})
			r.b.logger.Debug("client: GetServers failed", "server", addr, "err", err)
		case len(res.Servers) == 0:
			errs = append(errs, &pollError{addr: addr, err: errors.New("it lists no servers")})
		case slices.ContainsFunc(res.Servers, (*api.Server).GetIsLeader):
			return res.Servers, nil
		case leaderless == nil:
			leaderless = res.Servers
		}
	}
	if leaderless != nil {
		return leaderless, nil
	}
	return nil, errors.Join(errs...)
}

// pollError is the error of one server asked for the servers.
type pollError struct {
	addr string
	err  error
}

func (e *pollError) Error() string { return fmt.Sprintf("%s: %v", e.addr, e.err) }
func (e *pollError) Unwrap() error { return e.err }

// candidates returns the addresses to ask, in order: the servers of the last poll
// (the leader first), then the seeds not among them.
func (r *clusterResolver) candidates() []string {
	var addrs []string
	for _, s := range r.known {
		if !slices.Contains(addrs, s.RpcAddr) {
			addrs = append(addrs, s.RpcAddr)
		}
	}
	for _, seed := range r.b.seeds {
		if !slices.Contains(addrs, seed) {
			addrs = append(addrs, seed)
		}
	}
	return addrs
}

// conn returns the resolver's connection to addr, creating it if needed. Creating one
// does no I/O: it connects on its first call.
func (r *clusterResolver) conn(addr string) *grpc.ClientConn {
	if c, ok := r.conns[addr]; ok {
		return c
	}
	// passthrough: addr is dialled as it is, with no name resolution of gRPC's.
	c, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(r.b.creds))
	if err != nil {
		// NewClient fails only for a bad target or bad options, neither of which
		// depends on addr: a connection that fails every call says so.
		c, _ = grpc.NewClient("passthrough:///invalid", grpc.WithTransportCredentials(r.b.creds))
	}
	r.conns[addr] = c
	return c
}

// closeConns closes the connections to the addresses not in keep.
func (r *clusterResolver) closeConns(keep []string) {
	for addr, c := range r.conns {
		if !slices.Contains(keep, addr) {
			_ = c.Close() // nothing to learn from a connection we no longer need
			delete(r.conns, addr)
		}
	}
}

// update gives gRPC the servers, unless it has them already: each as an address whose
// Attributes say its ID and whether it leads, and whose ServerName is its host, which
// the server's certificate must name.
func (r *clusterResolver) update(servers []*api.Server) error {
	addrs := make([]resolver.Address, 0, len(servers))
	for _, s := range servers {
		host, _, err := net.SplitHostPort(s.RpcAddr)
		if err != nil {
			r.b.logger.Warn("client: a server has a bad address", "server", s.Id, "addr", s.RpcAddr, "err", err)
			continue
		}
		addrs = append(addrs, resolver.Address{
			Addr:       s.RpcAddr,
			ServerName: host,
			Attributes: attributes.New(serverKey{}, serverInfo{id: s.Id, leader: s.IsLeader}),
		})
	}
	slices.SortFunc(addrs, func(a, b resolver.Address) int { return strings.Compare(a.Addr, b.Addr) })
	if slices.EqualFunc(addrs, r.last, resolver.Address.Equal) {
		return nil
	}
	if err := r.cc.UpdateState(resolver.State{Addresses: addrs}); err != nil {
		r.last = nil // try again at the next poll
		return fmt.Errorf("client: gRPC refused the servers %v: %w", servers, err)
	}
	r.last = addrs
	return nil
}
