package consensus

import (
	"context"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"

	"golog/internal/storage"
)

// Config configures a DistributedLog.
type Config struct {
	// Segment sets the size of the segments of both the data log and the Raft log. It
	// must be the same on every server of a cluster: a record too large for a segment
	// would be refused by some servers and not others.
	Segment storage.SegmentConfig

	// Raft configures consensus.
	Raft RaftConfig

	// Durability says when a write is on disk; see Durability.
	Durability Durability

	// Retention removes old records; see Retention.
	Retention Retention

	// ReadIndex asks the leader at leaderAddr for a read index (its commit index,
	// confirmed current: see DistributedLog.ReadIndex), over the network. A follower
	// needs it to serve a linearizable read. Nil: followers refuse linearizable reads
	// with ErrNotLeader, and clients read from the leader.
	ReadIndex func(ctx context.Context, leaderAddr string) (uint64, error)

	// Logger receives the log's diagnostics, with the key node. Nil discards them.
	Logger *slog.Logger
}

// Durability says when a write counts as on disk.
type Durability int

const (
	// SyncEveryWrite flushes the Raft log to disk (fsync) before a server acknowledges
	// an entry, so a write is acknowledged once it is on the disks of a majority. It
	// survives any crash of any servers, power loss of all of them included. The
	// default. Entries that arrive together share one flush.
	SyncEveryWrite Durability = iota
	// SyncNever leaves flushing to the operating system. A write is acknowledged once
	// a majority has it in memory. It survives processes crashing (the kernel still
	// writes what they wrote) and the power loss of a minority of servers, but not of a
	// majority at once: that may lose acknowledged writes.
	SyncNever
)

// Retention says which old records to remove. Records are removed whole segments at a
// time, the oldest first, never the segment being written: the log keeps somewhat more
// than asked. The leader decides, and every server removes the same records (a
// command in the Raft log). Zero values keep everything.
type Retention struct {
	// MaxBytes is the most bytes of records to keep, across segments.
	MaxBytes uint64
	// MaxAge removes segments whose newest record is older than this.
	MaxAge time.Duration
	// CheckInterval is how often the leader checks. Default 1 minute.
	CheckInterval time.Duration
}

// RaftConfig configures the Raft side of a DistributedLog. Zero durations and counts
// mean the defaults given, which suit servers on a LAN; the tests use timeouts of 200 ms.
type RaftConfig struct {
	// LocalID names this server in the cluster. It must be unique and must not change
	// across restarts. Required.
	LocalID raft.ServerID

	// StreamLayer carries Raft's RPCs to and from the other servers; the DistributedLog
	// closes it on Close. Its Addr() is the address the others dial, and is what goes
	// into the cluster configuration. Required. Use a *StreamLayer: Close relies on its
	// Close waiting for raft's connection goroutines, which still write to the stores
	// after raft has shut down (see StreamLayer).
	StreamLayer raft.StreamLayer

	// Bootstrap makes this server start a new cluster with itself as the only voter,
	// if it has no Raft state yet. A server that has state (it was a member before, or
	// it bootstrapped already) ignores it, so it is safe to keep it set on restart.
	// Exactly one server of a new cluster bootstraps; the others are added with Join.
	Bootstrap bool

	// HeartbeatTimeout is how long a follower waits without hearing from a leader
	// before it starts an election (randomised up to twice that). Default 1 s.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes before it starts a new
	// election (randomised up to twice that). At least HeartbeatTimeout. Default 1 s.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without hearing from a
	// quorum. At most HeartbeatTimeout. Default 500 ms.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the longest a leader waits before it sends an AppendEntries RPC
	// even when there is nothing new. Default 50 ms.
	CommitTimeout time.Duration

	// SnapshotThreshold is how many new entries make raft take a snapshot (checked
	// every SnapshotInterval). Snapshots are cheap (see snapshot.go); the entries since
	// the last one are what a restart applies again. Default 8192.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether to take a snapshot. Default 30 s.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries a snapshot leaves in the Raft log, so that a
	// follower a little behind catches up from the log rather than from a snapshot.
	// Default 10240.
	TrailingLogs uint64

	// ApplyTimeout bounds how long Append, Join and Leave wait for raft to take their
	// command (not for it to commit; a leader that loses its quorum steps down after
	// LeaderLeaseTimeout, which fails them). Default 10 s.
	ApplyTimeout time.Duration

	// ShutdownTimeout bounds each of the two waits of Close for raft to stop (see
	// Close). Default 5 s.
	ShutdownTimeout time.Duration
}

// Defaults.
const (
	defaultApplyTimeout      = 10 * time.Second
	defaultShutdownTimeout   = 5 * time.Second
	defaultSnapshotInterval  = 30 * time.Second
	defaultRetentionInterval = time.Minute
)

// Files and directories under a DistributedLog's data directory, and transport settings.
const (
	dataLogDir        = "data"      // the records (see fsm)
	raftDir           = "raft"      // what Raft keeps:
	raftLogDir        = "log"       //   raft/log: the Raft log (LogStore)
	stableFile        = "stable.db" //   raft/stable.db: term and vote (StableStore)
	snapshotsDir      = "snapshots" //   raft/snapshots: the newest snapshots (SnapshotStore)
	snapshotsRetained = 2           //   this many

	transportMaxPool = 5                // pooled connections per peer
	transportTimeout = 10 * time.Second // I/O deadline of a Raft RPC (InstallSnapshot: scaled by size)
	// transportMaxInFlight is 1: one AppendEntries at a time per follower, no
	// pipelining. With raft v1.8.0's pipelined transport (2 in flight, its default) a
	// leader can hang for ever: when a follower's answer carries a newer term, the
	// goroutine that reads the answers stops, and the one that sends may already be
	// blocked handing it the next request; raft's Shutdown then waits for it. It was
	// seen after a leader was paused (SIGSTOP) or cut off and came back. raft's own
	// measurements show pipelining gains little once entries are batched.
	transportMaxInFlight = 1
)

// raftEntryOverhead bounds the bytes the Raft log adds around a batch's values beyond
// what the data log adds around each record: the Raft log entry's header
// (logEntryHeaderSize), the command's (2 + 8 + 4 bytes, and 14 + the producer's ID per
// batch) and the store frame. The Raft log's segments are larger than the data log's
// by this and the producer ID, so that a record that fits the data log fits the Raft
// log.
const raftEntryOverhead = logEntryHeaderSize + 16 + storage.FrameOverhead + 64 + maxProducerIDBytes

// maxProducerIDBytes bounds a producer ID.
const maxProducerIDBytes = 256

// catchUpPoll is how often a server that has just started, or a read waiting for
// this server to apply an index, looks at how far Raft has got between the state
// machine's signals.
const catchUpPoll = 5 * time.Millisecond
