package telemetry

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/serf"
	"github.com/prometheus/client_golang/prometheus"
)

// stateCollector reads the state gauges from the log and gossip at each scrape.
type stateCollector struct {
	source    Source
	members   func() []serf.Member                // nil: no golog_members
	followers func(context.Context) []FollowerLag // nil: no golog_follower_*

	state, term, lastIndex, commitIndex, appliedIndex, snapshotIndex *prometheus.Desc
	lag, lastContact, voters, hasLeader, ready                       *prometheus.Desc
	lowestOffset, nextOffset, segments, logBytes, memberCount        *prometheus.Desc
	followerUp, followerLagEntries, followerLagRecords               *prometheus.Desc
}

// followersTimeout bounds how long a scrape of the leader waits for the other servers
// to say how far they have got.
const followersTimeout = 2 * time.Second

// raftStates are the values of golog_raft_state's state label: every one is exported,
// 1 for the server's state and 0 for the others, so that a query needs no absent().
var raftStates = []string{
	raft.Follower.String(), raft.Candidate.String(), raft.Leader.String(), raft.Shutdown.String(),
}

// memberStatuses are the values of golog_members' status label.
var memberStatuses = []serf.MemberStatus{serf.StatusAlive, serf.StatusLeaving, serf.StatusLeft, serf.StatusFailed}

func newStateCollector(source Source, members func() []serf.Member, followers func(context.Context) []FollowerLag) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{
		source:        source,
		members:       members,
		followers:     followers,
		state:         d("golog_raft_state", "1 for this server's Raft state (Leader, Follower, Candidate, Shutdown), 0 for the others.", "state"),
		term:          d("golog_raft_term", "This server's current Raft term."),
		lastIndex:     d("golog_raft_last_index", "The newest Raft entry this server holds."),
		commitIndex:   d("golog_raft_commit_index", "The newest Raft entry this server knows to be committed."),
		appliedIndex:  d("golog_raft_applied_index", "The newest Raft entry this server's records reflect."),
		snapshotIndex: d("golog_raft_snapshot_index", "The Raft index of this server's newest snapshot; 0 for none."),
		lag: d("golog_raft_lag_entries",
			"Committed Raft entries this server has not applied yet (commit index - applied index). "+
				"A follower cut off from the leader does not know the newest commit index: watch golog_raft_last_contact_seconds too."),
		lastContact: d("golog_raft_last_contact_seconds",
			"Seconds since a follower last heard from the leader; not exported on the leader, nor before the first contact."),
		voters:       d("golog_raft_voters", "Servers in the Raft configuration this server knows."),
		hasLeader:    d("golog_raft_has_leader", "1 if this server knows a leader, 0 during an election."),
		ready:        d("golog_ready", "1 once this server has caught up after its start and serves reads (as /readyz and the gRPC health check say), 0 before."),
		lowestOffset: d("golog_log_lowest_offset", "The lowest offset this server holds (retention removes the ones below)."),
		nextOffset:   d("golog_log_next_offset", "The offset the next record will get: the records held are [lowest, next)."),
		segments:     d("golog_log_segments", "Data segments of the log on this server's disk."),
		logBytes:     d("golog_log_bytes", "Bytes of the log's data segments (their store files) on this server's disk."),
		memberCount:  d("golog_members", "Members of the gossip cluster this server sees, by status (alive, leaving, left, failed).", "status"),
		followerUp: d("golog_follower_up",
			"On the leader only: 1 if the follower answered with how far it has got, 0 if not.", "follower"),
		followerLagEntries: d("golog_follower_lag_entries",
			"On the leader only: Raft entries the leader holds that the follower has not applied (leader's last index - follower's applied index).", "follower"),
		followerLagRecords: d("golog_follower_lag_records",
			"On the leader only: records the leader holds that the follower does not (the difference of their next offsets).", "follower"),
	}
}

// Describe sends every metric's description.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.state, c.term, c.lastIndex, c.commitIndex, c.appliedIndex, c.snapshotIndex,
		c.lag, c.lastContact, c.voters, c.hasLeader, c.ready,
		c.lowestOffset, c.nextOffset, c.segments, c.logBytes, c.memberCount,
		c.followerUp, c.followerLagEntries, c.followerLagRecords,
	} {
		ch <- d
	}
}

// Collect reads the state now and sends its metrics.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	st := c.source.Status()
	for _, s := range raftStates {
		gauge(c.state, boolValue(st.State == s), s)
	}
	gauge(c.term, float64(st.Term))
	gauge(c.lastIndex, float64(st.LastIndex))
	gauge(c.commitIndex, float64(st.CommitIndex))
	gauge(c.appliedIndex, float64(st.AppliedIndex))
	gauge(c.snapshotIndex, float64(st.SnapshotIndex))
	var lag uint64
	if st.CommitIndex > st.AppliedIndex {
		lag = st.CommitIndex - st.AppliedIndex
	}
	gauge(c.lag, float64(lag))
	if !st.LastContact.IsZero() {
		gauge(c.lastContact, time.Since(st.LastContact).Seconds())
	}
	if servers, err := c.source.GetServers(); err == nil {
		gauge(c.voters, float64(len(servers)))
	}
	gauge(c.hasLeader, boolValue(st.LeaderID != ""))
	gauge(c.ready, boolValue(st.Ready))
	gauge(c.lowestOffset, float64(st.LowestOffset))
	gauge(c.nextOffset, float64(st.NextOffset))

	segments := c.source.Segments()
	var size uint64
	for _, s := range segments {
		size += s.Size
	}
	gauge(c.segments, float64(len(segments)))
	gauge(c.logBytes, float64(size))

	if c.followers != nil && st.State == raft.Leader.String() {
		c.collectFollowers(gauge)
	}

	if c.members != nil {
		counts := map[serf.MemberStatus]int{}
		for _, m := range c.members() {
			counts[m.Status]++
		}
		for _, s := range memberStatuses {
			gauge(c.memberCount, float64(counts[s]), s.String())
		}
	}
}

// collectFollowers sends each follower's lag, as the leader sees it. Only the leader
// exports them: it holds the newest entries, so its view is the one lag is measured
// against, and one scrape target has them all.
func (c *stateCollector) collectFollowers(gauge func(*prometheus.Desc, float64, ...string)) {
	ctx, cancel := context.WithTimeout(context.Background(), followersTimeout)
	defer cancel()
	for _, f := range c.followers(ctx) {
		gauge(c.followerUp, boolValue(f.Up), f.Name)
		if f.Up {
			gauge(c.followerLagEntries, float64(f.Entries), f.Name)
			gauge(c.followerLagRecords, float64(f.Records), f.Name)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
