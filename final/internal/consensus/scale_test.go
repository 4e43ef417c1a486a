package consensus_test

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
)

// scaleBytes makes TestScale run, with a log of that many bytes of records. It is off
// by default: the test writes the log twice (Raft log and data log) and takes a while.
//
//	go test -run TestScale -scale.bytes=1073741824 -v ./internal/consensus/
var scaleBytes = flag.Int64("scale.bytes", 0, "run TestScale with a log of this many bytes of records")

// TestScale measures what a large log costs: the time to start a server that holds
// it, to take a snapshot and the disk the snapshot adds, and a new follower catching
// up on it from a snapshot, with the most heap it needed. It reports; it asserts only
// that everything works and that the snapshot copies nothing, since times depend on
// the machine.
func TestScale(t *testing.T) {
	if *scaleBytes == 0 {
		t.Skip("set -scale.bytes to run")
	}
	c := newCluster(t, 1, func(c *consensus.Config) {
		c.Segment.MaxIndexBytes = 0 // the defaults: 64 MiB segments
		c.Raft.SnapshotThreshold = 1 << 40
		c.Raft.TrailingLogs = 16
	})
	nd := c.nodes[0]
	const recordSize, batch = 1024, 1000
	values := make([][]byte, batch)
	for i := range values {
		values[i] = make([]byte, recordSize)
	}
	start := time.Now()
	var records int64
	for records*recordSize < *scaleBytes {
		_, err := nd.dlog.Append(t.Context(), consensus.AppendRequest{Values: values})
		require.NoError(t, err)
		records += batch
	}
	t.Logf("wrote %d records of %d bytes (%.2f GiB) in %s", records, recordSize,
		float64(records*recordSize)/(1<<30), time.Since(start).Round(time.Millisecond))

	start = time.Now()
	require.NoError(t, nd.dlog.Raft().Snapshot().Error())
	took := time.Since(start)
	data := filepath.Join(nd.dir, "data")
	snapshots := filepath.Join(nd.dir, "raft", "snapshots")
	dataBytes, extra := diskUsed(t, data, nil), diskUsed(t, snapshots, inodes(t, data))
	t.Logf("snapshot: %s; data log %.1f MiB on disk, the snapshot adds %.3f MiB (%.4f%%)",
		took.Round(time.Millisecond), mib(dataBytes), mib(extra), 100*float64(extra)/float64(dataBytes))
	require.Less(t, extra, dataBytes/100, "a snapshot links the segments, it does not copy them")

	c.stop(nd)
	start = time.Now()
	c.start(nd)
	<-nd.dlog.Ready()
	t.Logf("restart: ready (serving reads) after %s", time.Since(start).Round(time.Millisecond))
	last, err := readLocal(nd.dlog, uint64(records-1))
	require.NoError(t, err)
	require.Len(t, last.Value, recordSize)

	// A new follower: the Raft log holds only the last entries, so it gets the
	// snapshot, streamed from the segment files.
	follower := &testNode{id: "node-1", dir: t.TempDir()}
	c.nodes = append(c.nodes, follower)
	var peak atomic.Uint64
	stopSampling := sampleHeap(&peak)
	start = time.Now()
	c.start(follower)
	c.join(follower)
	require.Eventually(t, func() bool {
		st := follower.dlog.Status()
		return st.Ready && st.NextOffset == uint64(records)
	}, 10*time.Minute, 100*time.Millisecond)
	stopSampling()
	t.Logf("new follower caught up on %d records in %s; the test process's Go heap peaked at %.1f MiB",
		records, time.Since(start).Round(time.Millisecond), mib(int64(peak.Load())))
	require.NotZero(t, follower.dlog.Status().SnapshotIndex, "it caught up from a snapshot")
}

// sampleHeap records the largest heap in use into peak, every 50 ms, until stop.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(50 * time.Millisecond)
		defer ticker.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-ticker.C:
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// diskUsed returns the bytes of disk the files under dir take, each file once however
// many names it has, leaving out the files whose inodes are in skip.
func diskUsed(t *testing.T, dir string, skip map[uint64]bool) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var total int64
	walkFiles(t, dir, func(st *syscall.Stat_t) {
		if !seen[st.Ino] && !skip[st.Ino] {
			seen[st.Ino] = true
			total += st.Blocks * 512
		}
	})
	return total
}

// inodes returns the inodes of the files under dir.
func inodes(t *testing.T, dir string) map[uint64]bool {
	t.Helper()
	found := map[uint64]bool{}
	walkFiles(t, dir, func(st *syscall.Stat_t) { found[st.Ino] = true })
	return found
}

// walkFiles calls f with the stat of every regular file under dir.
func walkFiles(t *testing.T, dir string, f func(*syscall.Stat_t)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		f(info.Sys().(*syscall.Stat_t))
		return nil
	})
	require.NoError(t, err)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
