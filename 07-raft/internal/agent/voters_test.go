package agent

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/discovery"
)

// fakeCluster is a raftCluster that records the changes asked of it; its servers do
// not change. A follower refuses them with consensus.ErrNotLeader, as the real one does;
// fail makes every change fail with that error.
type fakeCluster struct {
	servers  []*consensus.Server
	follower bool
	fail     error
	calls    []string // "join NAME ADDR" and "leave NAME", in order
}

func (f *fakeCluster) Join(id, addr string) error {
	f.calls = append(f.calls, "join "+id+" "+addr)
	return f.answer()
}

func (f *fakeCluster) Leave(id string) error {
	f.calls = append(f.calls, "leave "+id)
	return f.answer()
}

func (f *fakeCluster) answer() error {
	if f.follower {
		return consensus.ErrNotLeader{LeaderAddr: "b:8400", LeaderID: "b"}
	}
	return f.fail
}

func (f *fakeCluster) GetServers() ([]*consensus.Server, error) { return f.servers, nil }

// servers returns a configuration of the named servers, at NAME:8400, led by "self".
func servers(names ...string) []*consensus.Server {
	out := make([]*consensus.Server, len(names))
	for i, name := range names {
		out[i] = &consensus.Server{ID: name, RPCAddr: name + ":8400", IsLeader: name == "self"}
	}
	return out
}

// gossip returns the members with the given statuses, each gossiping NAME:8400.
func gossip(statuses map[string]serf.MemberStatus) []serf.Member {
	var members []serf.Member
	for name, status := range statuses {
		members = append(members, serf.Member{
			Name: name, Status: status, Tags: map[string]string{discovery.RPCAddrTag: name + ":8400"},
		})
	}
	return members
}

// removeAfter is the removeFailedAfter of the voters under test.
const removeAfter = 5 * time.Minute

// fakeClock is a clock that moves only when told to.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// testVoters are the voters of "self" over cluster, with a fake clock and a gossip
// view that the test sets.
type testVoters struct {
	*voters
	cluster *fakeCluster
	clock   *fakeClock
	view    []serf.Member // the gossip members, as voters.members returns them
}

func newTestVoters(cluster *fakeCluster) *testVoters {
	tv := &testVoters{cluster: cluster, clock: &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	tv.voters = newVoters(cluster, "self", removeAfter, slog.New(slog.DiscardHandler))
	tv.now = tv.clock.now
	tv.members = func() []serf.Member { return tv.view }
	return tv
}

// reconcileAt moves the clock on by d, reconciles, and returns the changes asked of
// the cluster by that reconcile and how long until the next removal is due.
func (tv *testVoters) reconcileAt(t *testing.T, d time.Duration) ([]string, time.Duration) {
	t.Helper()
	tv.clock.advance(d)
	tv.cluster.calls = nil
	next, err := tv.reconcile()
	require.NoError(t, err)
	return tv.cluster.calls, next
}

func TestVotersOnAFollowerIgnoreNotLeader(t *testing.T) {
	cluster := &fakeCluster{follower: true, servers: []*consensus.Server{{ID: "self"}, {ID: "b", IsLeader: true}}}
	v := newTestVoters(cluster)
	require.NoError(t, v.Join("c", "c:8400"), "a follower ignores a join")
	require.NoError(t, v.Leave("c"), "a follower ignores a leave")
	require.NoError(t, v.Failed("c"), "a follower ignores a failure")
	_, err := v.reconcile()
	require.NoError(t, err, "a follower does not reconcile")
	v.setLeading(true)
	v.view = gossip(map[string]serf.MemberStatus{"self": serf.StatusAlive, "b": serf.StatusLeft})
	_, err = v.reconcile()
	require.NoError(t, err, "a follower that thought it led")
	v.leaveIfLeader()
	require.Equal(t, []string{"join c c:8400", "leave c", "leave b"}, cluster.calls)
}

func TestVotersReconcileRemovesFirst(t *testing.T) {
	cluster := &fakeCluster{servers: []*consensus.Server{{ID: "self", IsLeader: true}, {ID: "gone"}}}
	v := newTestVoters(cluster)
	v.view = []serf.Member{
		{Name: "self", Status: serf.StatusAlive},
		{Name: "gone", Status: serf.StatusLeft},
		{Name: "new", Status: serf.StatusAlive, Tags: map[string]string{discovery.RPCAddrTag: "new:8400"}},
	}
	v.setLeading(true)
	_, err := v.reconcile()
	require.NoError(t, err)
	require.Equal(t, []string{"leave gone", "join new new:8400"}, cluster.calls)

	// Every change is tried, and the errors come back together.
	cluster.calls, cluster.fail = nil, errors.New("no quorum")
	_, err = v.reconcile()
	require.ErrorIs(t, err, cluster.fail)
	require.Equal(t, []string{"leave gone", "join new new:8400"}, cluster.calls)
}

// A graceful leave removes the server at once; a failure removes nothing, and asks
// for a reconcile instead.
func TestVotersLeaveAtOnceFailLater(t *testing.T) {
	cluster := &fakeCluster{servers: servers("self", "b", "c")}
	v := newTestVoters(cluster)
	v.setLeading(true)

	require.NoError(t, v.Failed("c"))
	require.Empty(t, cluster.calls, "a failure removed a voter")
	select {
	case <-v.kick:
	default:
		t.Fatal("Failed asked for no reconcile")
	}

	require.NoError(t, v.Leave("c"))
	require.Equal(t, []string{"leave c"}, cluster.calls)

	// A leave that reconcile finds (it came while there was no leader) is the same.
	v.view = gossip(map[string]serf.MemberStatus{"self": serf.StatusAlive, "b": serf.StatusAlive, "c": serf.StatusLeft})
	calls, _ := v.reconcileAt(t, 0)
	require.Equal(t, []string{"leave c"}, calls)
}

func TestVotersRemoveAFailedVoterAfterTheDelay(t *testing.T) {
	tests := []struct {
		name string
		c    serf.MemberStatus // c's status; StatusNone: gossip does not know c
	}{
		{"failed", serf.StatusFailed},
		{"reaped", serf.StatusNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVoters(&fakeCluster{servers: servers("self", "b", "c")})
			statuses := map[string]serf.MemberStatus{"self": serf.StatusAlive, "b": serf.StatusAlive}
			if tt.c != serf.StatusNone {
				statuses["c"] = tt.c
			}
			v.view = gossip(statuses)
			v.setLeading(true)

			calls, next := v.reconcileAt(t, 0)
			require.Empty(t, calls, "removed as soon as seen failed")
			require.Equal(t, removeAfter, next, "wait until due")
			calls, next = v.reconcileAt(t, removeAfter-time.Second)
			require.Empty(t, calls, "removed before the delay")
			require.Equal(t, time.Second, next, "wait until due")
			calls, next = v.reconcileAt(t, time.Second)
			require.Equal(t, []string{"leave c"}, calls, "not removed after the delay")
			require.Zero(t, next, "nothing left to wait for")
		})
	}
}

// The delay counts an unbroken failure, as this server's gossip sees it now.
func TestVotersRemoveOnlyAVoterThatIsStillFailed(t *testing.T) {
	alive := gossip(map[string]serf.MemberStatus{"self": serf.StatusAlive, "b": serf.StatusAlive, "c": serf.StatusAlive})
	failed := gossip(map[string]serf.MemberStatus{"self": serf.StatusAlive, "b": serf.StatusAlive, "c": serf.StatusFailed})

	t.Run("back when due", func(t *testing.T) {
		v := newTestVoters(&fakeCluster{servers: servers("self", "b", "c")})
		v.setLeading(true)
		v.view = failed
		v.reconcileAt(t, 0)
		v.view = alive
		calls, next := v.reconcileAt(t, removeAfter)
		require.Empty(t, calls)
		require.Zero(t, next)
	})

	t.Run("back, then failed again", func(t *testing.T) {
		v := newTestVoters(&fakeCluster{servers: servers("self", "b", "c")})
		v.setLeading(true)
		v.view = failed
		v.reconcileAt(t, 0)
		v.view = alive
		v.reconcileAt(t, time.Minute)
		v.view = failed
		calls, next := v.reconcileAt(t, time.Minute) // the clock starts again here
		require.Empty(t, calls)
		require.Equal(t, removeAfter, next)
		calls, next = v.reconcileAt(t, removeAfter-2*time.Minute) // due by the first failure
		require.Empty(t, calls, "the first failure counted")
		require.Equal(t, 2*time.Minute, next)
		calls, _ = v.reconcileAt(t, 2*time.Minute)
		require.Equal(t, []string{"leave c"}, calls)
	})

	t.Run("a join event between two failures", func(t *testing.T) {
		v := newTestVoters(&fakeCluster{servers: servers("self", "b", "c")})
		v.setLeading(true)
		v.view = failed
		v.reconcileAt(t, 0)
		v.clock.advance(time.Minute)
		require.NoError(t, v.Join("c", "c:8400")) // back, and failed again before any reconcile
		calls, next := v.reconcileAt(t, removeAfter-time.Minute)
		require.Empty(t, calls, "the failure before the join counted")
		require.Equal(t, removeAfter, next)
	})
}

// A failed voter is removed only if more than half of the servers left are alive as
// this server's gossip sees them.
func TestVotersKeepAQuorumOfHealthyVoters(t *testing.T) {
	const (
		alive   = serf.StatusAlive
		failed  = serf.StatusFailed
		leaving = serf.StatusLeaving
	)
	tests := []struct {
		name     string
		servers  []string
		statuses map[string]serf.MemberStatus // a server missing here is unknown to gossip
		want     []string
	}{
		{
			name:     "one of three failed",
			servers:  []string{"self", "b", "c"},
			statuses: map[string]serf.MemberStatus{"self": alive, "b": alive, "c": failed},
			want:     []string{"leave c"},
		},
		{
			name:     "two of three failed",
			servers:  []string{"self", "b", "c"},
			statuses: map[string]serf.MemberStatus{"self": alive, "b": failed, "c": failed},
		},
		{
			name:     "one of three failed and one on its way out",
			servers:  []string{"self", "b", "c"},
			statuses: map[string]serf.MemberStatus{"self": alive, "b": leaving, "c": failed},
		},
		{
			name:     "two of five failed, one by one",
			servers:  []string{"self", "b", "c", "d", "e"},
			statuses: map[string]serf.MemberStatus{"self": alive, "b": alive, "c": alive, "d": failed, "e": failed},
			want:     []string{"leave d", "leave e"},
		},
		{
			name:     "two of five failed, one of them reaped",
			servers:  []string{"self", "b", "c", "d", "e"},
			statuses: map[string]serf.MemberStatus{"self": alive, "b": alive, "c": alive, "d": failed},
			want:     []string{"leave d", "leave e"},
		},
		{
			name:     "three of five failed",
			servers:  []string{"self", "b", "c", "d", "e"},
			statuses: map[string]serf.MemberStatus{"self": alive, "b": alive, "c": failed, "d": failed, "e": failed},
		},
		{
			name:     "one of four failed, one on its way out",
			servers:  []string{"self", "b", "c", "d"},
			statuses: map[string]serf.MemberStatus{"self": alive, "b": alive, "c": leaving, "d": failed},
			want:     []string{"leave d"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVoters(&fakeCluster{servers: servers(tt.servers...)})
			v.view = gossip(tt.statuses)
			v.setLeading(true)
			calls, _ := v.reconcileAt(t, 0)
			require.Empty(t, calls, "removed before the delay")
			calls, _ = v.reconcileAt(t, removeAfter)
			require.Equal(t, tt.want, calls)
		})
	}
}

// Only this server's own leadership counts: a failure it saw before it led, or in an
// earlier leadership, starts no clock. A leader that was cut off, and leads again
// once the partition heals, must not act on what it believed while it was cut off.
func TestVotersCountOnlyTheCurrentLeadership(t *testing.T) {
	v := newTestVoters(&fakeCluster{servers: servers("self", "b", "c")})
	v.view = gossip(map[string]serf.MemberStatus{"self": serf.StatusAlive, "b": serf.StatusAlive, "c": serf.StatusFailed})

	calls, next := v.reconcileAt(t, 0)
	require.Empty(t, calls, "a follower changed the configuration")
	require.Zero(t, next, "a follower keeps no clock")

	v.clock.advance(removeAfter)
	v.setLeading(true)
	calls, next = v.reconcileAt(t, 0)
	require.Empty(t, calls, "a failure seen before leading counted")
	require.Equal(t, removeAfter, next)

	// Leadership lost and won again: the clock starts again.
	v.clock.advance(removeAfter / 2)
	v.setLeading(false)
	v.setLeading(true)
	calls, next = v.reconcileAt(t, 0)
	require.Empty(t, calls)
	require.Equal(t, removeAfter, next, "a failure seen in an earlier leadership counted")

	calls, _ = v.reconcileAt(t, removeAfter)
	require.Equal(t, []string{"leave c"}, calls)
}

func TestVotersLeaveIfLeader(t *testing.T) {
	tests := []struct {
		name    string
		servers []*consensus.Server
		want    []string
	}{
		{"the leader of three", []*consensus.Server{{ID: "self", IsLeader: true}, {ID: "b"}, {ID: "c"}}, []string{"leave self"}},
		{"a follower", []*consensus.Server{{ID: "self"}, {ID: "b", IsLeader: true}}, nil},
		{"the only voter", []*consensus.Server{{ID: "self", IsLeader: true}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := &fakeCluster{servers: tt.servers}
			newTestVoters(cluster).leaveIfLeader()
			require.Equal(t, tt.want, cluster.calls)
		})
	}
}

func TestPlan(t *testing.T) {
	member := func(name string, status serf.MemberStatus) serf.Member {
		return serf.Member{Name: name, Status: status, Tags: map[string]string{discovery.RPCAddrTag: name + ":8400"}}
	}
	server := func(name string) *consensus.Server { return &consensus.Server{ID: name, RPCAddr: name + ":8400"} }
	tests := []struct {
		name    string
		members []serf.Member
		servers []*consensus.Server
		want    changes
	}{
		{
			name:    "in step",
			members: []serf.Member{member("self", serf.StatusAlive), member("b", serf.StatusAlive)},
			servers: []*consensus.Server{server("self"), server("b")},
		},
		{
			name: "members that joined while there was no leader",
			members: []serf.Member{
				member("self", serf.StatusAlive), member("c", serf.StatusAlive), member("b", serf.StatusAlive),
			},
			servers: []*consensus.Server{server("self")},
			want:    changes{joins: []peer{{"b", "b:8400"}, {"c", "c:8400"}}},
		},
		{
			name: "a server that moved",
			members: []serf.Member{
				member("self", serf.StatusAlive),
				{Name: "b", Status: serf.StatusAlive, Tags: map[string]string{discovery.RPCAddrTag: "b:9400"}},
			},
			servers: []*consensus.Server{server("self"), server("b")},
			want:    changes{joins: []peer{{"b", "b:9400"}}},
		},
		{
			name: "servers that left, failed, or gossip does not know",
			members: []serf.Member{
				member("self", serf.StatusAlive), member("left", serf.StatusLeft), member("failed", serf.StatusFailed),
			},
			servers: []*consensus.Server{server("self"), server("left"), server("failed"), server("unknown")},
			want:    changes{leaves: []string{"left"}, failed: []string{"failed", "unknown"}},
		},
		{
			name:    "a member on its way out is left alone",
			members: []serf.Member{member("self", serf.StatusAlive), member("b", serf.StatusLeaving)},
			servers: []*consensus.Server{server("self"), server("b")},
		},
		{
			name: "gone members that are not voters",
			members: []serf.Member{
				member("self", serf.StatusAlive), member("left", serf.StatusLeft), member("failed", serf.StatusFailed),
			},
			servers: []*consensus.Server{server("self")},
		},
		{
			name: "a member without an RPC address",
			members: []serf.Member{
				member("self", serf.StatusAlive), {Name: "b", Status: serf.StatusAlive},
			},
			servers: []*consensus.Server{server("self")},
		},
		{
			name:    "self is never touched",
			members: []serf.Member{member("self", serf.StatusLeft)},
			servers: []*consensus.Server{{ID: "self", RPCAddr: "elsewhere:8400"}},
		},
		{
			name:    "self unknown to gossip",
			servers: []*consensus.Server{server("self")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, plan("self", tt.members, tt.servers))
		})
	}
}
