package consensus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/storage"
)

// A linearizable read on a follower reflects every append acknowledged before it began:
// the follower asks the leader for its commit index and waits until it has applied
// that much. So a read right after an acknowledgement finds the record, on any server,
// every time.
func TestDistributedLogLinearizableReadsOnFollowers(t *testing.T) {
	c := newCluster(t, 3, nil)
	var followers []*testNode
	leader := c.leader()
	for _, nd := range c.nodes {
		if nd != leader {
			followers = append(followers, nd)
		}
	}
	for i := range 100 {
		value := fmt.Sprintf("v%d", i)
		off := c.append(value)
		nd := followers[i%len(followers)]
		r, err := nd.dlog.Read(t.Context(), off, consensus.Linearizable)
		require.NoError(t, err, "linearizable read of offset %d on %s right after it was acknowledged", off, nd.id)
		require.Equal(t, value, string(r.Value))
	}
}

// Without a way to ask the leader, a follower refuses a linearizable read rather than
// answer from what it has.
func TestDistributedLogLinearizableReadNeedsTheLeader(t *testing.T) {
	c := newCluster(t, 3, func(c *consensus.Config) { c.ReadIndex = nil })
	off := c.append("x")
	follower := c.follower()
	_, err := follower.dlog.Read(t.Context(), off, consensus.Linearizable)
	var notLeader consensus.ErrNotLeader
	require.ErrorAs(t, err, &notLeader)
	require.NotEmpty(t, notLeader.LeaderID)

	// A local read answers from the follower's own copy, which may lag.
	require.Eventually(t, func() bool {
		r, err := follower.dlog.Read(t.Context(), off, consensus.Local)
		return err == nil && string(r.Value) == "x"
	}, waitFor, tick)
}

// Out of range carries where the answering server stood, so that a client can tell a
// follower that has not applied a record yet from a record that does not exist.
func TestDistributedLogOutOfRangeSaysWhereTheServerIs(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.append("x")
	<-c.nodes[0].dlog.Ready()
	_, err := c.nodes[0].dlog.Read(t.Context(), 5, consensus.Local)
	e, ok := errors.AsType[consensus.ErrOffsetOutOfRange](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, uint64(5), e.Offset)
	require.Equal(t, uint64(1), e.Next)
	require.NotZero(t, e.AppliedIndex)
	require.GreaterOrEqual(t, e.CommitIndex, e.AppliedIndex)
	require.ErrorIs(t, err, storage.ErrOffsetOutOfRange{Offset: 5, Lowest: 0, Next: 1}, "a storage error as well")
}

// An idempotent append retried after its leader died lands once: the new leader's
// state machine knows the producer's sequence number and answers where the record went.
func TestDistributedLogIdempotentAppendAcrossLeaderChange(t *testing.T) {
	c := newCluster(t, 3, nil)
	first := c.leader()
	req := consensus.AppendRequest{Values: [][]byte{[]byte("once")}, ProducerID: "p", Sequence: 1}
	res, err := first.dlog.Append(t.Context(), req)
	require.NoError(t, err)
	require.False(t, res.Duplicate)

	c.stop(first)
	next := c.leader()
	require.NotEqual(t, first, next)
	again, err := next.dlog.Append(t.Context(), req)
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, res.Offset, again.Offset)

	after := c.append("after")
	require.Equal(t, res.Offset+1, after, "the retry appended nothing")
}

// An append whose caller's deadline leaves too little time is not proposed, and says so:
// it was not applied.
func TestDistributedLogAppendHonoursTheDeadline(t *testing.T) {
	c := newCluster(t, 1, nil)
	leader := c.nodes[0].dlog
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_, err := leader.Append(ctx, consensus.AppendRequest{Values: [][]byte{[]byte("late")}})
	e, ok := errors.AsType[*consensus.AppendError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, consensus.NotApplied, e.Applied)
	require.Equal(t, consensus.ReasonDeadlineBeforePropose, e.Reason)
	require.Equal(t, uint64(0), c.append("next"), "the late append never reached the log")
}

// Appends proposed one after the other by one goroutine are appended in that order,
// while they commit together.
func TestDistributedLogProposalsKeepTheirOrder(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader().dlog
	var proposals []*consensus.Proposal
	for i := range 200 {
		p, err := leader.Propose(t.Context(), consensus.AppendRequest{Values: [][]byte{fmt.Appendf(nil, "%d", i)}})
		require.NoError(t, err)
		proposals = append(proposals, p)
	}
	for i, p := range proposals {
		res, err := p.Wait(t.Context())
		require.NoError(t, err)
		require.Equal(t, uint64(i), res.Offset)
	}
}

// A restarted server keeps its data log: the records' files are the same files, not a
// copy rebuilt from the Raft log, with or without a snapshot to start from.
func TestDistributedLogRestartKeepsTheDataLog(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snapshot), func(t *testing.T) {
			c := newCluster(t, 1, nil)
			nd := c.nodes[0]
			want := values(40) // 16 records a segment: three segments
			c.appendValues(want, 0, len(want))
			if snapshot {
				require.NoError(t, nd.dlog.Raft().Snapshot().Error())
			}
			before := storeInode(t, nd.dir, 0)

			c.stop(nd)
			c.start(nd)
			requireLog(t, nd, want)
			require.Equal(t, before, storeInode(t, nd.dir, 0), "the data log's first segment is the same file")
			require.Equal(t, uint64(len(want)), c.append("next"))
		})
	}
}

// storeInode identifies the data log's segment at base in the data directory dir.
func storeInode(t *testing.T, dir string, base uint64) uint64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(dir, "data", fmt.Sprintf("%020d.store", base)))
	require.NoError(t, err)
	return info.Sys().(*syscall.Stat_t).Ino
}

// Retention removes old records on every server alike; a follower that was down while
// the leader took snapshots and compacted its Raft log catches up from a snapshot made
// of the leader's segments, and holds the same records as the others from the same
// lowest offset. A read below it says where the log starts.
func TestDistributedLogRetentionAndSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, func(c *consensus.Config) {
		c.Raft.TrailingLogs = 2
		// Segments of 16 records of about 40 bytes: keep the newest segment or two.
		c.Retention = consensus.Retention{MaxBytes: 300, CheckInterval: 50 * time.Millisecond}
	})
	want := values(20)
	c.appendValues(want, 0, 5)
	down := c.follower()
	c.stop(down)

	c.appendValues(want, 5, 20)
	leader := c.leader()
	var lowest uint64
	require.Eventually(t, func() bool {
		lowest = leader.dlog.Status().LowestOffset
		return lowest > 0
	}, waitFor, tick, "retention never removed anything")
	require.NoError(t, leader.dlog.Raft().Snapshot().Error())

	c.start(down)
	require.Eventually(t, func() bool {
		st := down.dlog.Status()
		return st.Ready && st.NextOffset == 20 && st.LowestOffset >= lowest
	}, waitFor, tick, "the follower never caught up")
	require.NotZero(t, down.dlog.Status().SnapshotIndex, "it caught up by installing the leader's snapshot")
	for _, nd := range c.running() {
		st := nd.dlog.Status()
		for off := st.LowestOffset; off < 20; off++ {
			r, err := readLocal(nd.dlog, off)
			require.NoError(t, err, "%s: Read(%d)", nd.id, off)
			require.Equal(t, want[off], string(r.Value))
		}
		_, err := readLocal(nd.dlog, 0)
		e, ok := errors.AsType[consensus.ErrOffsetOutOfRange](err)
		require.True(t, ok, "%s: Read(0): %v", nd.id, err)
		require.Equal(t, st.LowestOffset, e.Lowest, "%s says where its log starts", nd.id)
	}
}

// Many goroutines append at once: every append is acknowledged once, at its own offset,
// and the offsets are dense.
func TestDistributedLogConcurrentAppends(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader().dlog
	const writers, each = 8, 40
	var mu sync.Mutex
	got := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				value := fmt.Sprintf("w%d-%d", w, i)
				off, err := appendOne(leader, []byte(value))
				if err != nil {
					t.Errorf("append %s: %v", value, err)
					return
				}
				mu.Lock()
				got[off] = value
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, got, writers*each)
	for _, nd := range c.nodes {
		for off := range uint64(writers * each) {
			require.Eventually(t, func() bool {
				r, err := readLocal(nd.dlog, off)
				return err == nil && string(r.Value) == got[off]
			}, waitFor, tick, "%s: offset %d", nd.id, off)
		}
	}
}
