package console_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/console"
)

// TestRecorderTurnsWhatItSeesIntoEvents feeds a Recorder raft's observations, gossip's
// events and changes of the log's status, and checks the events it records: one per
// thing seen, a failing heartbeat once until it heals, and a vote by the voter's name.
func TestRecorderTurnsWhatItSeesIntoEvents(t *testing.T) {
	log := followerLog()
	rec := console.NewRecorder("self", log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	var kinds []string
	// step does something and waits until the recorder has recorded n events.
	step := func(n int, do func()) {
		t.Helper()
		do()
		require.Eventually(t, func() bool { return len(rec.Events()) >= n }, 5*time.Second, time.Millisecond)
	}
	step(1, func() {
		log.observe(t, raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ID: []byte("peer-c")}, Term: 6, LastLogIndex: 9, LastLogTerm: 5})
	})
	step(2, func() { log.set(func(f *fakeLog) { f.voteTerm, f.voteAddr = 6, "127.0.0.1:8430" }) })
	step(3, func() { log.observe(t, raft.Leader) })
	step(4, func() { log.observe(t, raft.LeaderObservation{LeaderID: "self"}) })
	step(5, func() {
		log.observe(t, raft.FailedHeartbeatObservation{PeerID: "peer-a"})
		log.observe(t, raft.FailedHeartbeatObservation{PeerID: "peer-a"})
	})
	step(6, func() { log.observe(t, raft.ResumedHeartbeatObservation{PeerID: "peer-a"}) })
	step(7, func() { require.NoError(t, rec.Failed("peer-b")) })
	step(8, func() { log.set(func(f *fakeLog) { f.status.SnapshotIndex = 9 }) })
	step(9, func() { log.set(func(f *fakeLog) { f.status.LowestOffset = 2 }) })

	want := []string{
		console.EventVoteRequest, console.EventVote, console.EventState, console.EventLeader,
		console.EventHeartbeatFailed, console.EventHeartbeatBack, console.EventFailed,
		console.EventSnapshot, console.EventRetention,
	}
	for _, e := range rec.Events() {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, want, kinds, "one event per thing seen; the repeated heartbeat failure once")

	events := rec.Events()
	vote := events[slices.IndexFunc(events, func(e console.Event) bool { return e.Kind == console.EventVote })]
	require.Equal(t, console.Event{Time: vote.Time, Server: "self", Kind: console.EventVote, Term: 6, Peer: "peer-c",
		Text: "self voted for peer-c in term 6"}, vote)
}
