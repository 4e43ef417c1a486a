package consensus_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/storage"
)

// requireReadsNeverMiss reads every acknowledged record from nd from the moment its
// server has started until each one is there. Each read must answer the record, or
// ErrCatchingUp while the server rebuilds its copy; never "out of range", which would
// tell a client that a record it was told is written does not exist.
func requireReadsNeverMiss(t *testing.T, nd *testNode, acked map[uint64]string) {
	t.Helper()
	pending := make(map[uint64]string, len(acked))
	for off, v := range acked {
		pending[off] = v
	}
	catchingUp := 0
	deadline := time.Now().Add(waitFor)
	sweep := time.NewTicker(time.Millisecond) // each sweep checks every record left
	defer sweep.Stop()
	for ; len(pending) > 0; <-sweep.C {
		for off, want := range pending {
			r, err := readLocal(nd.dlog, off)
			switch {
			case err == nil:
				require.Equal(t, want, string(r.Value), "record at offset %d", off)
				delete(pending, off)
			case errors.Is(err, consensus.ErrCatchingUp):
				catchingUp++
			default:
				t.Fatalf("Read(%d) of an acknowledged record on the restarted %s: %v", off, nd.id, err)
			}
		}
		require.False(t, time.Now().After(deadline), "%d acknowledged records still unread on %s after %s",
			len(pending), nd.id, waitFor)
	}
	t.Logf("%s served all %d acknowledged records; %d reads before that answered ErrCatchingUp",
		nd.id, len(acked), catchingUp)
}

// A restarted server rebuilds its records from its snapshot and Raft log. Reads during
// that time must not answer from the half-built copy.
func TestDistributedLogServesNoReadBeforeCatchingUp(t *testing.T) {
	t.Run("a cluster of one", func(t *testing.T) {
		c := newCluster(t, 1, nil)
		nd := c.nodes[0]
		acked := map[uint64]string{}
		for i := range 300 {
			v := fmt.Sprintf("v%d", i)
			acked[c.append(v)] = v
			if i == 150 {
				require.NoError(t, nd.dlog.Raft().Snapshot().Error())
			}
		}
		c.crash(nd)
		c.start(nd)
		requireReadsNeverMiss(t, nd, acked)
	})

	t.Run("the leader of three, under load", func(t *testing.T) {
		c := newCluster(t, 3, nil)
		leader := c.leader()
		w := startWriter(t, c.running())
		w.waitForAcks(t, 200)

		// Writes go on through the other two, which elect a new leader.
		var others []*testNode
		for _, nd := range c.running() {
			if nd != leader {
				others = append(others, nd)
			}
		}
		ackedBefore := w.retarget(others)
		c.crash(leader)
		c.start(leader)
		requireReadsNeverMiss(t, leader, ackedBefore)
		w.stop()
		require.NotEmpty(t, w.acknowledged(), "the writer never got an acknowledgement")
	})

	t.Run("a follower of three, far behind, the leader unchanged", func(t *testing.T) {
		// The term does not change while the follower is down, so the entries it
		// holds are of the current term, and raft sets a follower's commit index to
		// the leader's or to its own last entry, whichever is lower. After the first
		// AppendEntries of its catch-up (64 entries at most), that is an entry of the
		// current term far short of what the leader had committed.
		c := newCluster(t, 3, nil)
		c.append("before")
		f := c.follower()
		c.crash(f)
		acked := map[uint64]string{}
		for i := range 1000 {
			v := fmt.Sprintf("v%d", i)
			acked[c.append(v)] = v
		}
		c.start(f)
		requireReadsNeverMiss(t, f, acked)
	})
}

// A writer appends records to whichever of its servers leads, from a goroutine, and
// remembers what was acknowledged.
type writer struct {
	mu      sync.RWMutex // held for reading by an append, for writing by retarget
	servers []*consensus.DistributedLog
	acked   map[uint64]string // guarded by ackMu
	ackMu   sync.Mutex

	done    chan struct{}
	stopped chan struct{}
}

// startWriter starts writing to the servers of nodes, until stop or the end of the test.
func startWriter(t *testing.T, nodes []*testNode) *writer {
	w := &writer{acked: map[uint64]string{}, done: make(chan struct{}), stopped: make(chan struct{})}
	for _, nd := range nodes {
		w.servers = append(w.servers, nd.dlog)
	}
	go w.run()
	t.Cleanup(w.stop)
	return w
}

func (w *writer) run() {
	defer close(w.stopped)
	for i := 0; ; i++ {
		select {
		case <-w.done:
			return
		default:
		}
		if !w.appendOnce(fmt.Sprintf("w%d", i)) {
			// No leader among the servers right now: pace the retries.
			select {
			case <-w.done:
				return
			case <-time.After(retryPause):
			}
		}
	}
}

// retryPause is how long the writer pauses when none of its servers took a record.
const retryPause = 5 * time.Millisecond

// appendOnce appends value on the first of the servers that takes it, and reports
// whether one did. Any error means the record was not acknowledged: not the leader, an
// election, a server going away.
func (w *writer) appendOnce(value string) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	for _, s := range w.servers {
		if off, err := appendOne(s, []byte(value)); err == nil {
			w.ackMu.Lock()
			w.acked[off] = value
			w.ackMu.Unlock()
			return true
		}
	}
	return false
}

// acknowledged returns a copy of what has been acknowledged so far.
func (w *writer) acknowledged() map[uint64]string {
	w.ackMu.Lock()
	defer w.ackMu.Unlock()
	acked := make(map[uint64]string, len(w.acked))
	for off, v := range w.acked {
		acked[off] = v
	}
	return acked
}

// waitForAcks waits until n records are acknowledged.
func (w *writer) waitForAcks(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(w.acknowledged()) >= n }, waitFor, tick,
		"the writer got fewer than %d acknowledgements", n)
}

// retarget makes the writer write to the servers of nodes from now on, once no append
// is in flight, and returns what was acknowledged until then.
func (w *writer) retarget(nodes []*testNode) map[uint64]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.servers = w.servers[:0]
	for _, nd := range nodes {
		w.servers = append(w.servers, nd.dlog)
	}
	return w.acknowledged()
}

// stop stops the writer and waits for it. It is idempotent.
func (w *writer) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.stopped
}

// A server that is restoring a snapshot from its leader has emptied its records for
// a moment: it answers no reads.
func TestDistributedLogServesNoReadWhileRestoring(t *testing.T) {
	c := newCluster(t, 1, nil)
	nd := c.nodes[0]
	c.append("x")
	requireLog(t, nd, []string{"x"})

	nd.dlog.SetRestoring(true)
	_, err := readLocal(nd.dlog, 0)
	require.ErrorIs(t, err, consensus.ErrCatchingUp)
	nd.dlog.SetRestoring(false)
	_, err = readLocal(nd.dlog, 0)
	require.NoError(t, err)
}

// Raft's pipelined transport can hang a leader's shutdown (see transportMaxInFlight);
// the DistributedLog does not use it.
func TestDistributedLogDoesNotPipeline(t *testing.T) {
	c := newCluster(t, 1, nil)
	_, err := c.nodes[0].dlog.Transport().AppendEntriesPipeline("peer", "127.0.0.1:1")
	require.ErrorIs(t, err, raft.ErrPipelineReplicationNotSupported)
}

// Close returns even when raft cannot stop: here its state machine is stuck in an
// Apply. It says so, and closes the stores once raft has stopped after all.
func TestDistributedLogCloseIsBounded(t *testing.T) {
	const shutdownTimeout = 200 * time.Millisecond
	c := newCluster(t, 1, func(c *consensus.Config) { c.Raft.ShutdownTimeout = shutdownTimeout })
	nd := c.nodes[0]
	c.append("x")
	<-nd.dlog.Ready()

	unlock := sync.OnceFunc(nd.dlog.LockFSM())
	t.Cleanup(unlock)
	r := nd.dlog.Raft()
	before := r.LastIndex()
	go func() { _, _ = appendOne(nd.dlog, []byte("stuck")) }()
	// Raft has handed the entry to the state machine's goroutine, which has taken it off
	// its queue: it is in Apply, waiting for the lock.
	require.Eventually(t, func() bool { return r.AppliedIndex() > before && r.Stats()["fsm_pending"] == "0" },
		waitFor, tick, "the stuck append never reached the state machine")

	closed := make(chan error, 1)
	go func() { closed <- nd.dlog.Close() }()
	select {
	case err := <-closed:
		require.ErrorContains(t, err, "raft did not stop")
	case <-time.After(waitFor):
		t.Fatalf("Close has not returned after %s, with a shutdown timeout of %s", waitFor, shutdownTimeout)
	}

	// Once the state machine is free, raft stops, and the stores are closed: the data
	// log's directory can be opened again.
	unlock()
	require.Eventually(t, func() bool {
		l, err := storage.NewLog(filepath.Join(nd.dir, "data"), storage.Config{})
		if err != nil {
			return false
		}
		require.NoError(t, l.Close())
		return true
	}, waitFor, tick, "the data log stays open after raft stopped")
	require.NoError(t, nd.ln.Close())
	nd.dlog, nd.ln = nil, nil // closed already
}
