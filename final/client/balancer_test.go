package client

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
)

// fakeSubConn is a SubConn that records what the balancer does with it.
type fakeSubConn struct {
	balancer.SubConn // gRPC requires implementations to embed it
	addr             string
	listener         func(balancer.SubConnState)
	connects         int
	shutdown         bool
}

func (s *fakeSubConn) Connect()  { s.connects++ }
func (s *fakeSubConn) Shutdown() { s.shutdown = true }

// fakeClientConn is the ClientConn of a balancer under test.
type fakeClientConn struct {
	balancer.ClientConn
	subConns map[string]*fakeSubConn
	created  int
	state    balancer.State // the last one
}

func (f *fakeClientConn) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	sc := &fakeSubConn{addr: addrs[0].Addr, listener: opts.StateListener}
	f.subConns[sc.addr] = sc
	f.created++
	return sc, nil
}

func (f *fakeClientConn) UpdateState(s balancer.State) { f.state = s }

// addrs returns resolver addresses for servers a, b, c... with leader marked.
func addrs(leader string, servers ...string) resolver.State {
	var s resolver.State
	for _, addr := range servers {
		s.Addresses = append(s.Addresses, resolver.Address{
			Addr:       addr,
			Attributes: attributes.New(serverKey{}, serverInfo{id: addr, leader: addr == leader}),
		})
	}
	return s
}

// pick picks for a call of method with route r.
func pick(t *testing.T, p balancer.Picker, method string, r route) (string, error) {
	t.Helper()
	res, err := p.Pick(balancer.PickInfo{FullMethodName: method, Ctx: withRoute(context.Background(), r)})
	if err != nil {
		return "", err
	}
	return res.SubConn.(*fakeSubConn).addr, nil
}

func TestALeaderChangeKeepsTheConnections(t *testing.T) {
	cc := &fakeClientConn{subConns: map[string]*fakeSubConn{}}
	b := balancerBuilder{}.Build(cc, balancer.BuildOptions{})
	require.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{ResolverState: addrs("a", "a", "b", "c")}))
	require.Equal(t, 3, cc.created)
	require.Equal(t, connectivity.Connecting, cc.state.ConnectivityState)
	for _, sc := range cc.subConns {
		require.Equal(t, 1, sc.connects, "%s connects at once", sc.addr)
		sc.listener(balancer.SubConnState{ConnectivityState: connectivity.Ready})
	}
	require.Equal(t, connectivity.Ready, cc.state.ConnectivityState)
	got, err := pick(t, cc.state.Picker, api.Log_Produce_FullMethodName, route{})
	require.NoError(t, err)
	require.Equal(t, "a", got)

	// The leader moves: the same connections, a new picker.
	require.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{ResolverState: addrs("b", "a", "b", "c")}))
	require.Equal(t, 3, cc.created, "no connection is made again")
	got, err = pick(t, cc.state.Picker, api.Log_Produce_FullMethodName, route{})
	require.NoError(t, err)
	require.Equal(t, "b", got)

	// A server leaves: its connection is shut down.
	require.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{ResolverState: addrs("b", "a", "b")}))
	require.True(t, cc.subConns["c"].shutdown)
	require.False(t, cc.subConns["a"].shutdown)

	// A connection that fails stays failed while gRPC retries it, until it is ready.
	a := cc.subConns["a"]
	a.listener(balancer.SubConnState{ConnectivityState: connectivity.TransientFailure, ConnectionError: context.DeadlineExceeded})
	a.listener(balancer.SubConnState{ConnectivityState: connectivity.Idle})
	require.Equal(t, 2, a.connects, "an idle connection connects again at once")
	a.listener(balancer.SubConnState{ConnectivityState: connectivity.Connecting})
	_, err = pick(t, cc.state.Picker, api.Log_GetStatus_FullMethodName, route{pin: "a"})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)

	// No servers at all: calls fail rather than wait.
	require.ErrorIs(t, b.UpdateClientConnState(balancer.ClientConnState{}), balancer.ErrBadResolverState)
	require.Equal(t, connectivity.TransientFailure, cc.state.ConnectivityState)
	_, err = pick(t, cc.state.Picker, api.Log_Consume_FullMethodName, route{})
	require.Error(t, err)
	require.NotErrorIs(t, err, balancer.ErrNoSubConnAvailable)
}

func TestPicker(t *testing.T) {
	sc := func(addr string) balancer.SubConn { return &fakeSubConn{addr: addr} }
	// The leader l and the followers f1, f2 are connected; d failed; w is connecting.
	all := func() *picker {
		return &picker{
			leader:    "l",
			all:       []string{"f1", "f2", "l"},
			followers: []string{"f1", "f2"},
			ready:     map[string]balancer.SubConn{"l": sc("l"), "f1": sc("f1"), "f2": sc("f2")},
			failed:    map[string]error{"d": context.DeadlineExceeded},
			waiting:   map[string]bool{"w": true},
		}
	}
	leaderOnly := func() *picker {
		return &picker{leader: "l", all: []string{"l"}, ready: map[string]balancer.SubConn{"l": sc("l")}}
	}
	leaderWaiting := func() *picker {
		p := all()
		p.leader, p.waiting["l"], p.all = "w", true, []string{"f1", "f2"}
		return p
	}
	noLeader := func() *picker {
		p := all()
		p.leader, p.followers = "", p.all
		return p
	}
	nothingReady := func() *picker {
		return &picker{ready: map[string]balancer.SubConn{}, waiting: map[string]bool{"w": true}}
	}
	for _, tc := range []struct {
		name   string
		picker *picker
		method string
		route  route
		want   string     // every pick
		anyOf  []string   // one pick, any of them
		cycle  []string   // round robin: each of them in turn
		code   codes.Code // the pick fails with this status
		wait   bool       // the pick waits for a new picker
	}{
		{name: "produce goes to the leader", picker: all(), method: api.Log_Produce_FullMethodName, want: "l"},
		{name: "a batch too", picker: all(), method: api.Log_ProduceBatch_FullMethodName, want: "l"},
		{name: "a stream too", picker: all(), method: api.Log_ProduceStream_FullMethodName, want: "l"},
		{name: "produce waits for the leader's connection", picker: leaderWaiting(), method: api.Log_Produce_FullMethodName, wait: true},
		{name: "produce without a leader goes anywhere", picker: noLeader(), method: api.Log_Produce_FullMethodName, anyOf: []string{"f1", "f2", "l"}},
		{name: "consume goes to the followers in turn", picker: all(), method: api.Log_Consume_FullMethodName, cycle: []string{"f1", "f2"}},
		{name: "a consume stream too", picker: all(), method: api.Log_ConsumeStream_FullMethodName, cycle: []string{"f1", "f2"}},
		{name: "consume avoids a server", picker: all(), method: api.Log_Consume_FullMethodName, route: route{avoid: "f1"}, want: "f2"},
		{name: "consume with the leader alone", picker: leaderOnly(), method: api.Log_Consume_FullMethodName, want: "l"},
		{name: "consume avoiding the leader alone", picker: leaderOnly(), method: api.Log_Consume_FullMethodName, route: route{avoid: "l"}, want: "l"},
		{name: "other methods go to every server in turn", picker: all(), method: api.Log_GetServers_FullMethodName, cycle: []string{"f1", "f2", "l"}},
		{name: "health checks too", picker: all(), method: "/grpc.health.v1.Health/Check", cycle: []string{"f1", "f2", "l"}},
		{name: "pinned", picker: all(), method: api.Log_GetStatus_FullMethodName, route: route{pin: "f2"}, want: "f2"},
		{name: "pinned to a failed server", picker: all(), method: api.Log_GetStatus_FullMethodName, route: route{pin: "d"}, code: codes.Unavailable},
		{name: "pinned to a server connecting", picker: all(), method: api.Log_GetStatus_FullMethodName, route: route{pin: "w"}, wait: true},
		{name: "pinned to an unknown server", picker: all(), method: api.Log_GetStatus_FullMethodName, route: route{pin: "x"}, code: codes.Unavailable},
		{name: "a preferred server", picker: all(), method: api.Log_Produce_FullMethodName, route: route{prefer: "f1"}, want: "f1"},
		{name: "a preferred server not connected", picker: all(), method: api.Log_Produce_FullMethodName, route: route{prefer: "w"}, want: "l"},
		{name: "nothing ready yet", picker: nothingReady(), method: api.Log_Consume_FullMethodName, wait: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.want != "":
				for range 3 {
					got, err := pick(t, tc.picker, tc.method, tc.route)
					require.NoError(t, err)
					require.Equal(t, tc.want, got)
				}
			case tc.anyOf != nil:
				got, err := pick(t, tc.picker, tc.method, tc.route)
				require.NoError(t, err)
				require.Contains(t, tc.anyOf, got)
			case tc.cycle != nil:
				counts := map[string]int{}
				var prev string
				for range 2 * len(tc.cycle) {
					got, err := pick(t, tc.picker, tc.method, tc.route)
					require.NoError(t, err)
					require.NotEqual(t, prev, got, "the same server twice in a row")
					counts[got]++
					prev = got
				}
				want := map[string]int{}
				for _, addr := range tc.cycle {
					want[addr] = 2
				}
				require.Equal(t, want, counts)
			case tc.wait:
				_, err := pick(t, tc.picker, tc.method, tc.route)
				require.ErrorIs(t, err, balancer.ErrNoSubConnAvailable)
			default:
				_, err := pick(t, tc.picker, tc.method, tc.route)
				require.Equal(t, tc.code, status.Code(err), "%v", err)
			}
		})
	}
}

func TestPickRecordsThatTheCallLeft(t *testing.T) {
	p := &picker{leader: "l", all: []string{"l"}, ready: map[string]balancer.SubConn{"l": &fakeSubConn{addr: "l"}}}
	r := route{picked: new(atomic.Bool)}
	_, err := pick(t, p, api.Log_Produce_FullMethodName, r)
	require.NoError(t, err)
	require.True(t, r.picked.Load())

	r = route{picked: new(atomic.Bool), pin: "x"}
	_, err = pick(t, p, api.Log_Produce_FullMethodName, r)
	require.Error(t, err)
	require.False(t, r.picked.Load())
}
