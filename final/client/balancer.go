package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
)

// balancerName is the load-balancing policy of a Client's connection. gRPC's registry of
// policies is global and case-sensitive: one lowercase name, registered once.
const balancerName = "golog_leader"

func init() {
	balancer.Register(balancerBuilder{})
}

// serverKey is the key of a serverInfo in a resolver.Address's Attributes. An unexported
// type: no other package can set or read it by accident.
type serverKey struct{}

// serverInfo is what the resolver says about one address. It is compared with == by
// resolver.Address.Equal, so it holds only comparable fields.
type serverInfo struct {
	id     string
	leader bool
}

// infoOf returns the serverInfo of an address, and false if it has none.
func infoOf(a resolver.Address) (serverInfo, bool) {
	if a.Attributes == nil {
		return serverInfo{}, false
	}
	info, ok := a.Attributes.Value(serverKey{}).(serverInfo)
	return info, ok
}

// A route is what a call asks of the picker besides its method; the zero route asks
// nothing. The client puts it in the call's context (withRoute).
type route struct {
	// pin sends the call to this server only: it fails with UNAVAILABLE if the
	// server is unreachable or unknown, and waits while it connects. Status uses it.
	pin string
	// prefer sends the call to this server if it is connected: the leader that a
	// NOT_LEADER answer named, before the resolver has heard of the change.
	prefer string
	// avoid keeps the call off this server if another can take it: the server whose
	// answer made the client try again.
	avoid string
	// picked, if set, is set when the picker hands the call to a connection. A call
	// that failed with picked unset never left the client: a write was not applied.
	picked *atomic.Bool
}

type routeKey struct{}

// withRoute returns ctx carrying r for the picker.
func withRoute(ctx context.Context, r route) context.Context {
	return context.WithValue(ctx, routeKey{}, r)
}

func routeOf(ctx context.Context) route {
	r, _ := ctx.Value(routeKey{}).(route)
	return r
}

// balancerBuilder builds a leaderBalancer for each ClientConn.
type balancerBuilder struct{}

func (balancerBuilder) Name() string { return balancerName }

func (balancerBuilder) Build(cc balancer.ClientConn, _ balancer.BuildOptions) balancer.Balancer {
	return &leaderBalancer{cc: cc, subConns: map[string]*subConn{}}
}

// A leaderBalancer keeps one connection (SubConn) to every server the resolver lists,
// and gives gRPC a new picker whenever a connection's state or the leader changes.
//
// Why not balancer/base: base keys its SubConns by address and Attributes, so a
// leader flag there makes every leader change close and reopen two connections, and in
// BalancerAttributes it is never seen again once the SubConn exists (the picker keeps
// sending writes to the old leader). This balancer keys SubConns by address alone and
// reads the leader from each resolver update, so a leader change only builds a new
// picker. It also lets the picker send a call to a named server (route.pin), which
// Status needs.
//
// gRPC calls its methods, and the SubConns' state listeners, one at a time, so it
// needs no lock.
type leaderBalancer struct {
	cc          balancer.ClientConn
	subConns    map[string]*subConn // by address
	leader      string              // the leader's address, "" if none is known
	resolverErr error               // the resolver's last error, until its next update
}

// subConn is one server's connection and what the balancer knows of its state.
type subConn struct {
	addr  string
	sc    balancer.SubConn
	state connectivity.State
	// failed is set when the connection fails (TRANSIENT_FAILURE) and cleared when it
	// is READY again: while gRPC retries (IDLE, CONNECTING, TRANSIENT_FAILURE, ...),
	// the server still counts as unreachable. err is the last failure.
	failed bool
	err    error
}

func (b *leaderBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	b.resolverErr = nil
	b.leader = ""
	listed := map[string]bool{}
	for _, a := range s.ResolverState.Addresses {
		listed[a.Addr] = true
		if info, ok := infoOf(a); ok && info.leader {
			b.leader = a.Addr
		}
		if _, ok := b.subConns[a.Addr]; ok {
			continue
		}
		sub := &subConn{addr: a.Addr, state: connectivity.Idle}
		// The SubConn's address carries no Attributes: it stays the same connection
		// when the leader moves.
		sc, err := b.cc.NewSubConn([]resolver.Address{{Addr: a.Addr, ServerName: a.ServerName}},
			balancer.NewSubConnOptions{StateListener: func(st balancer.SubConnState) { b.updateSubConnState(sub, st) }})
		if err != nil {
			continue // only after the ClientConn is closed
		}
		sub.sc = sc
		b.subConns[a.Addr] = sub
		sc.Connect()
	}
	for addr, sub := range b.subConns {
		if !listed[addr] {
			sub.sc.Shutdown() // calls in flight on it finish
			delete(b.subConns, addr)
		}
	}
	if len(s.ResolverState.Addresses) == 0 {
		b.resolverErr = errors.New("the resolver found no servers")
		b.updatePicker()
		return balancer.ErrBadResolverState
	}
	b.updatePicker()
	return nil
}

func (b *leaderBalancer) ResolverError(err error) {
	b.resolverErr = err
	if len(b.subConns) == 0 {
		b.updatePicker() // fail calls with the resolver's error rather than wait
	}
}

// UpdateSubConnState is never called: every SubConn has a StateListener.
func (b *leaderBalancer) UpdateSubConnState(balancer.SubConn, balancer.SubConnState) {}

func (b *leaderBalancer) updateSubConnState(sub *subConn, st balancer.SubConnState) {
	if b.subConns[sub.addr] != sub {
		return // shut down since
	}
	switch st.ConnectivityState {
	case connectivity.Ready:
		sub.failed = false
	case connectivity.TransientFailure:
		sub.failed, sub.err = true, st.ConnectionError
	case connectivity.Idle:
		// A connection that broke, or that waited out its backoff after a failure:
		// connect again at once, so that the server is ready when a call needs it.
		sub.sc.Connect()
	case connectivity.Shutdown:
		return
	}
	sub.state = st.ConnectivityState
	b.updatePicker()
}

func (b *leaderBalancer) ExitIdle() {
	for _, sub := range b.subConns {
		if sub.state == connectivity.Idle {
			sub.sc.Connect()
		}
	}
}

func (b *leaderBalancer) Close() {
	for _, sub := range b.subConns {
		sub.sc.Shutdown()
	}
	b.subConns = nil
}

// updatePicker gives gRPC a new picker built from the connections' states, and the
// ClientConn's state: READY if a server is, CONNECTING while one may become so, and
// TRANSIENT_FAILURE when every server failed.
func (b *leaderBalancer) updatePicker() {
	p := &picker{
		leader:  b.leader,
		ready:   map[string]balancer.SubConn{},
		failed:  map[string]error{},
		waiting: map[string]bool{},
		next:    rand.Uint32(), // clients that start together do not all pick the same server first
	}
	var lastErr error
	for _, addr := range slices.Sorted(maps.Keys(b.subConns)) {
		sub := b.subConns[addr]
		switch {
		case sub.state == connectivity.Ready:
			p.ready[addr] = sub.sc
			p.all = append(p.all, addr)
			if addr != b.leader {
				p.followers = append(p.followers, addr)
			}
		case sub.failed:
			p.failed[addr] = sub.err
			lastErr = sub.err
		default:
			p.waiting[addr] = true
		}
	}
	state := connectivity.TransientFailure
	switch {
	case len(p.all) > 0:
		state = connectivity.Ready
	case len(p.waiting) > 0:
		state = connectivity.Connecting
	case lastErr != nil:
		p.err = fmt.Errorf("no server is reachable: %w", lastErr)
	case b.resolverErr != nil:
		p.err = fmt.Errorf("no servers: %w", b.resolverErr)
	default:
		state = connectivity.Idle
		p.err = errors.New("no servers")
	}
	b.cc.UpdateState(balancer.State{ConnectivityState: state, Picker: p})
}

// A picker chooses the connection of each call. It is built for one state of the
// connections and never changes; the balancer builds a new one when they change.
//
//   - Produce, ProduceBatch and the produce streams go to the leader. While the leader's
//     connection is being made they wait for it. With no leader known, or the leader
//     unreachable, they go to any server, whose answer (NOT_LEADER naming the leader,
//     or NO_LEADER) tells the client what to do next.
//   - Consume and ConsumeStream go round robin to the followers; to the leader when no
//     follower is connected.
//   - Every other method (GetServers, GetStatus, health checks, reflection) goes round
//     robin to every connected server.
//
// A call's route (withRoute) can pin it to a server, prefer one, or avoid one.
type picker struct {
	leader    string
	all       []string // the connected servers, by address
	followers []string // the connected servers but the leader
	ready     map[string]balancer.SubConn
	failed    map[string]error // unreachable servers, and why
	waiting   map[string]bool  // servers being connected to
	err       error            // why no call can go anywhere, when all is empty and waiting too
	next      uint32           // round-robin counter, shared by every kind of call
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	r := routeOf(info.Ctx)
	addr, err := p.choose(info.FullMethodName, r)
	if err != nil {
		return balancer.PickResult{}, err
	}
	if r.picked != nil {
		r.picked.Store(true)
	}
	return balancer.PickResult{SubConn: p.ready[addr]}, nil
}

// choose returns the address of a connected server for a call of method with route r,
// or the error Pick returns: balancer.ErrNoSubConnAvailable makes gRPC wait for the
// next picker; a status error ends the call with it; another error ends a call that
// does not wait for readiness with UNAVAILABLE.
func (p *picker) choose(method string, r route) (string, error) {
	if r.pin != "" {
		switch {
		case p.ready[r.pin] != nil:
			return r.pin, nil
		case p.failed[r.pin] != nil:
			return "", status.Errorf(codes.Unavailable, "server %s is unreachable: %v", r.pin, p.failed[r.pin])
		case p.waiting[r.pin]:
			return "", balancer.ErrNoSubConnAvailable
		default:
			return "", status.Errorf(codes.Unavailable, "server %s is not among the servers the client knows", r.pin)
		}
	}
	if r.prefer != "" && p.ready[r.prefer] != nil {
		return r.prefer, nil
	}
	if len(p.all) == 0 {
		if len(p.waiting) > 0 {
			return "", balancer.ErrNoSubConnAvailable
		}
		return "", p.err
	}
	switch method {
	case api.Log_Produce_FullMethodName, api.Log_ProduceBatch_FullMethodName, api.Log_ProduceStream_FullMethodName,
		api.Log_ProduceBatchStream_FullMethodName:
		switch {
		case p.ready[p.leader] != nil:
			return p.leader, nil
		case p.waiting[p.leader]:
			return "", balancer.ErrNoSubConnAvailable
		}
		return p.roundRobin(p.all, ""), nil
	case api.Log_Consume_FullMethodName, api.Log_ConsumeStream_FullMethodName:
		if addr := p.roundRobin(p.followers, r.avoid); addr != "" {
			return addr, nil
		}
	}
	if addr := p.roundRobin(p.all, r.avoid); addr != "" {
		return addr, nil
	}
	return p.roundRobin(p.all, ""), nil
}

// roundRobin returns the next of addrs other than avoid, or "" if there is none.
func (p *picker) roundRobin(addrs []string, avoid string) string {
	n := uint32(len(addrs))
	start := atomic.AddUint32(&p.next, 1)
	for i := range n {
		if addr := addrs[(start+i)%n]; addr != avoid {
			return addr
		}
	}
	return ""
}
