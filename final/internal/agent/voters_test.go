package agent

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"

	"golog/internal/discovery"
	"golog/internal/consensus"
)

// fakeCluster is a raftCluster that records the changes asked of it. A follower
// refuses them with consensus.ErrNotLeader, as the real one does; fail makes every change
// fail with that error.
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

func newVoters(cluster *fakeCluster, members ...serf.Member) *voters {
	return &voters{
		log:     cluster,
		self:    "self",
		logger:  slog.New(slog.DiscardHandler),
		members: func() []serf.Member { return members },
	}
}

func TestVotersOnAFollowerIgnoreNotLeader(t *testing.T) {
	cluster := &fakeCluster{follower: true, servers: []*consensus.Server{{ID: "self"}, {ID: "b", IsLeader: true}}}
	v := newVoters(cluster)
	require.NoError(t, v.Join("c", "c:8400"), "a follower ignores a join")
	require.NoError(t, v.Leave("c"), "a follower ignores a leave")
	require.NoError(t, v.reconcile(), "a follower that thought it led")
	v.leaveIfLeader()
	require.Equal(t, []string{"join c c:8400", "leave c", "leave b"}, cluster.calls)
}

func TestVotersReconcileRemovesFirst(t *testing.T) {
	cluster := &fakeCluster{servers: []*consensus.Server{{ID: "self", IsLeader: true}, {ID: "gone"}}}
	v := newVoters(cluster,
		serf.Member{Name: "self", Status: serf.StatusAlive},
		serf.Member{Name: "new", Status: serf.StatusAlive, Tags: map[string]string{discovery.RPCAddrTag: "new:8400"}},
	)
	require.NoError(t, v.reconcile())
	require.Equal(t, []string{"leave gone", "join new new:8400"}, cluster.calls)

	// Every change is tried, and the errors come back together.
	cluster.calls, cluster.fail = nil, errors.New("no quorum")
	err := v.reconcile()
	require.ErrorIs(t, err, cluster.fail)
	require.Equal(t, []string{"leave gone", "join new new:8400"}, cluster.calls)
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
			newVoters(cluster).leaveIfLeader()
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
		name       string
		members    []serf.Member
		servers    []*consensus.Server
		wantJoins  []peer
		wantLeaves []string
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
			servers:   []*consensus.Server{server("self")},
			wantJoins: []peer{{"b", "b:8400"}, {"c", "c:8400"}},
		},
		{
			name: "a server that moved",
			members: []serf.Member{
				member("self", serf.StatusAlive),
				{Name: "b", Status: serf.StatusAlive, Tags: map[string]string{discovery.RPCAddrTag: "b:9400"}},
			},
			servers:   []*consensus.Server{server("self"), server("b")},
			wantJoins: []peer{{"b", "b:9400"}},
		},
		{
			name: "servers that left, failed, or gossip does not know",
			members: []serf.Member{
				member("self", serf.StatusAlive), member("left", serf.StatusLeft), member("failed", serf.StatusFailed),
			},
			servers:    []*consensus.Server{server("self"), server("left"), server("failed"), server("unknown")},
			wantLeaves: []string{"failed", "left", "unknown"},
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
			joins, leaves := plan("self", tt.members, tt.servers)
			require.Equal(t, tt.wantJoins, joins)
			require.Equal(t, tt.wantLeaves, leaves)
		})
	}
}
