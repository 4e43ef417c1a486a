package consensus

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"golog/internal/log"
)

// RaftConfig configures the Raft side of a DistributedLog. Zero durations and counts
// mean raft's defaults (raft.DefaultConfig), which suit servers on a LAN; the tests use
// timeouts of 200 ms.
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
	// every SnapshotInterval). Default 8192.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether to take a snapshot. Default 120 s.
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

// Config configures a DistributedLog.
type Config struct {
	// Log configures the data log. Its Segment settings must be the same on every
	// server, since every server must accept the same records; the Raft log's segments
	// are the same with room for an entry's header (raftEntryOverhead). Its Logger
	// receives the diagnostics of the DistributedLog, of raft and of the stores; nil
	// discards them.
	Log log.Config

	// Raft configures Raft.
	Raft RaftConfig
}

// Defaults of RaftConfig.
const (
	defaultApplyTimeout    = 10 * time.Second
	defaultShutdownTimeout = 5 * time.Second
)

// catchUpPoll is how often a server that has just started looks at how far Raft has
// got, until it has caught up (see Read).
const catchUpPoll = 5 * time.Millisecond

// raftEntryOverhead bounds the bytes the Raft log adds around an appended record: the
// store frame (8), the record encoding (at most 16 with protobuf: two field tags, the
// value's length and the offset as varints), the entry header (logEntryHeaderSize, 34)
// and the command type (1). The Raft log's segments are this much larger than the data
// log's, so that every record that fits the data log also fits the Raft log.
const raftEntryOverhead = 64

// Files and directories under a DistributedLog's data directory, and transport settings.
const (
	dataLogDir        = "data"      // the records, rebuilt on every start (see fsm)
	raftDir           = "raft"      // what Raft keeps:
	raftLogDir        = "log"       //   raft/log: the Raft log (LogStore)
	stableFile        = "stable.db" //   raft/stable.db: term and vote (StableStore)
	snapshotsRetained = 2           //   raft/snapshots: the newest snapshots, this many

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

// A DistributedLog is a log replicated on a cluster of servers with Raft: one server,
// the leader, appends; every server holds the same records at the same offsets and
// serves reads from its own copy.
//
// An Append becomes a command in the Raft log. The leader replicates it, and once a
// majority of servers have it on disk it is committed, and every server applies it to
// its data log (Raft paper §5.3). So a cluster of 2f+1 servers keeps accepting
// appends, and loses none, with f servers down; with more down it refuses them.
//
// A DistributedLog is safe for concurrent use.
type DistributedLog struct {
	config          Config
	logger          *slog.Logger
	timeout         time.Duration // RaftConfig.ApplyTimeout
	shutdownTimeout time.Duration // RaftConfig.ShutdownTimeout

	data      *log.Log // the records: the state machine's state
	fsm       *fsm
	logStore  *LogStore
	stable    *StableStore
	snapshots *raft.FileSnapshotStore
	transport *raft.NetworkTransport
	raft      *raft.Raft

	ready       chan struct{} // closed once the server has caught up (see Read)
	stopCatchUp chan struct{} // closed by Close: catchUp gives up
	catchUpDone chan struct{} // closed when catchUp has returned

	closeOnce sync.Once
	closeErr  error
}

// NewDistributedLog opens or creates the distributed log stored in dataDir and starts
// its Raft server. c.Log.Segment configures both the data log and the Raft log's
// segments and must be the same on every server; c.Raft configures Raft.
//
// A new server with c.Raft.Bootstrap set starts a cluster of one and becomes its leader;
// other new servers wait until a leader adds them (Join). A server restarting from
// dataDir rejoins the cluster it was in, rebuilds its data log from its snapshot and
// Raft log, and never bootstraps again.
//
// If NewDistributedLog fails, it closes c.Raft.StreamLayer, as Close would.
func NewDistributedLog(dataDir string, c Config) (*DistributedLog, error) {
	if c.Raft.StreamLayer == nil {
		return nil, errors.New("distributed log: Config.Raft.StreamLayer is required")
	}
	if c.Raft.LocalID == "" {
		return nil, errors.Join(errors.New("distributed log: Config.Raft.LocalID is required"),
			c.Raft.StreamLayer.Close())
	}
	if c.Log.Logger == nil {
		c.Log.Logger = slog.New(slog.DiscardHandler)
	}
	d := &DistributedLog{
		config:          c,
		logger:          c.Log.Logger.With("node", string(c.Raft.LocalID)),
		timeout:         cmp.Or(c.Raft.ApplyTimeout, defaultApplyTimeout),
		shutdownTimeout: cmp.Or(c.Raft.ShutdownTimeout, defaultShutdownTimeout),
		ready:           make(chan struct{}),
		stopCatchUp:     make(chan struct{}),
		catchUpDone:     make(chan struct{}),
	}
	if err := d.open(dataDir); err != nil {
		return nil, errors.Join(fmt.Errorf("distributed log %s: %w", dataDir, err), d.closeStores(),
			c.Raft.StreamLayer.Close())
	}
	go d.catchUp(time.Now())
	return d, nil
}

// open opens the stores, then starts raft. On error the caller closes what is open.
func (d *DistributedLog) open(dataDir string) error {
	c := d.config
	hclogger := newHCLogger(d.logger)

	// The Raft stores first: they lock their files, so a second process on the same
	// directory fails here, before the data log below is removed under the first.
	if err := os.MkdirAll(filepath.Join(dataDir, raftDir), 0o755); err != nil {
		return err
	}
	raftLogConfig := log.Config{Segment: c.Log.Segment, Logger: d.logger}
	raftLogConfig.Segment.MaxStoreBytes = c.Log.StoreLimit() + raftEntryOverhead
	var err error
	if d.logStore, err = NewLogStore(filepath.Join(dataDir, raftDir, raftLogDir), raftLogConfig); err != nil {
		return err
	}
	if d.stable, err = NewStableStore(filepath.Join(dataDir, raftDir, stableFile)); err != nil {
		return err
	}
	if d.snapshots, err = raft.NewFileSnapshotStoreWithLogger(filepath.Join(dataDir, raftDir), snapshotsRetained,
		hclogger.Named("snapshots")); err != nil {
		return err
	}

	// The data log starts empty on every start; raft rebuilds it (see fsm).
	dataConfig := log.Config{Segment: c.Log.Segment, Logger: d.logger}
	if err := os.RemoveAll(filepath.Join(dataDir, dataLogDir)); err != nil {
		return err
	}
	if d.data, err = log.NewLog(filepath.Join(dataDir, dataLogDir), dataConfig); err != nil {
		return err
	}
	d.fsm = &fsm{log: d.data}

	rc := raft.DefaultConfig()
	rc.LocalID = c.Raft.LocalID
	rc.Logger = hclogger
	// A removed server keeps running as a follower outside the cluster, so its process
	// (and the gRPC server on the same port) stays up until it is closed.
	rc.ShutdownOnRemove = false
	setIfNonZero(&rc.HeartbeatTimeout, c.Raft.HeartbeatTimeout)
	setIfNonZero(&rc.ElectionTimeout, c.Raft.ElectionTimeout)
	setIfNonZero(&rc.LeaderLeaseTimeout, c.Raft.LeaderLeaseTimeout)
	setIfNonZero(&rc.CommitTimeout, c.Raft.CommitTimeout)
	setIfNonZero(&rc.SnapshotThreshold, c.Raft.SnapshotThreshold)
	setIfNonZero(&rc.SnapshotInterval, c.Raft.SnapshotInterval)
	setIfNonZero(&rc.TrailingLogs, c.Raft.TrailingLogs)

	// Checked before NewRaft: a restarted server has state and must not bootstrap again
	// (raft would refuse with ErrCantBootstrap).
	hasState, err := raft.HasExistingState(d.logStore, d.stable, d.snapshots)
	if err != nil {
		return err
	}

	d.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:          c.Raft.StreamLayer,
		MaxPool:         transportMaxPool,
		MaxRPCsInFlight: transportMaxInFlight,
		Timeout:         transportTimeout,
		Logger:          hclogger.Named("transport"),
	})
	// NewRaft restores the newest snapshot into the fsm before it returns.
	if d.raft, err = raft.NewRaft(rc, d.fsm, d.logStore, d.stable, d.snapshots, d.transport); err != nil {
		return errors.Join(err, d.transport.Close())
	}
	if c.Raft.Bootstrap && !hasState {
		config := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       c.Raft.LocalID,
			Address:  d.transport.LocalAddr(), // StreamLayer.Addr(): the advertised address
		}}}
		if err := d.raft.BootstrapCluster(config).Error(); err != nil {
			return errors.Join(fmt.Errorf("bootstrap: %w", err), d.raft.Shutdown().Error())
		}
		d.logger.Info("bootstrapped a new cluster", "peer", string(d.transport.LocalAddr()))
	}
	return nil
}

// setIfNonZero sets *dst to v unless v is zero.
func setIfNonZero[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// Append replicates r and returns the offset it got in every server's log. Only r.Value
// is used. Only the leader appends: on another server Append fails with ErrNotLeader,
// which names the leader when one is known. It returns once the record is committed
// (on disk on a majority of servers) and applied on this server.
//
// A record that does not fit a segment fails with ErrRecordTooLarge. An error that
// wraps raft.ErrLeadershipLost means the outcome is unknown: the record may still be
// committed by the next leader, so a retry may append it twice.
func (d *DistributedLog) Append(r *log.Record) (uint64, error) {
	if r == nil {
		return 0, errors.New("distributed log: append: nil record")
	}
	if err := d.checkSize(r); err != nil {
		return 0, err
	}
	cmd, err := encodeAppend(r)
	if err != nil {
		return 0, fmt.Errorf("distributed log: append: encode record: %w", err)
	}
	f := d.raft.Apply(cmd, d.timeout)
	if err := f.Error(); err != nil {
		return 0, d.raftError("append", err)
	}
	switch resp := f.Response().(type) {
	case uint64:
		return resp, nil
	case error:
		return 0, fmt.Errorf("distributed log: append: %w", resp)
	default:
		return 0, fmt.Errorf("distributed log: append: unexpected response %T from the state machine", resp)
	}
}

// checkSize fails with ErrRecordTooLarge if r would not fit a segment of the data log
// at any offset. It is checked before r goes to Raft: a command the state machine cannot
// apply would stay in the Raft log for ever, and one the Raft log cannot store (its
// segments are raftEntryOverhead larger) would make the leader step down.
func (d *DistributedLog) checkSize(r *log.Record) error {
	limit := d.config.Log.StoreLimit()
	size, err := log.RecordSize(r)
	if err != nil {
		return fmt.Errorf("distributed log: append: encode record: %w", err)
	}
	if size > limit {
		return fmt.Errorf("distributed log: append: the record takes up to %d bytes on disk, a segment holds %d: %w",
			size, limit, log.ErrRecordTooLarge)
	}
	return nil
}

// raftError turns an error from a raft future into the error op returns.
func (d *DistributedLog) raftError(op string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		addr, id := d.raft.LeaderWithID()
		return ErrNotLeader{LeaderAddr: string(addr), LeaderID: string(id)}
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("distributed log: %s: %w", op, log.ErrClosed)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("distributed log: %s: the leader lost its quorum before the command was committed; "+
			"it may still be committed: %w", op, err)
	default:
		return fmt.Errorf("distributed log: %s: %w", op, err)
	}
}

// Read returns the record at off from this server's copy of the log, leader or not. A
// follower may not have applied the newest records yet: an offset past its end is an
// ErrOffsetOutOfRange, as on the leader. It fails if this server's data log has stopped
// (see fsm).
//
// A server that has just started rebuilds its copy from its snapshot and Raft log (see
// fsm). Until it has applied every entry the cluster had committed, and while it
// replaces its copy with a snapshot from the leader, Read fails with ErrCatchingUp:
// it could otherwise answer "out of range" for a record a client was told is written.
// Ready says when that is over.
func (d *DistributedLog) Read(off uint64) (*log.Record, error) {
	if err := d.fsm.err(); err != nil {
		return nil, err
	}
	select {
	case <-d.ready:
	default:
		return nil, ErrCatchingUp
	}
	if d.fsm.restoring.Load() {
		return nil, ErrCatchingUp
	}
	return d.data.Read(off)
}

// Ready returns a channel that is closed once this server has caught up with the
// cluster after it started, and serves reads (see Read).
func (d *DistributedLog) Ready() <-chan struct{} {
	return d.ready
}

// catchUp closes d.ready once the server has applied every command the cluster had
// committed when it started. It returns then, or when Close is called.
//
// A server learns what is committed from the leader: raft's commit index starts at 0
// on every start and rises with the leader's AppendEntries (on the leader itself, as
// its entries reach a majority). But a leader that has just been elected may not know
// the latest commit yet: the leader before it may have committed entries and crashed
// before telling anyone. It knows once an entry of its own term is committed, the
// entry raft appends at the start of every term (Raft paper §5.4.2, §8). So catchUp
// waits until the entry at the commit index is of the current term. That commit index
// covers every entry this server held that was committed: the leader's log agrees with
// ours up to at least there (§5.3, Log Matching; §5.4, Leader Completeness). What is
// left is to wait until the fsm has applied the last command up to that index.
func (d *DistributedLog) catchUp(started time.Time) {
	defer close(d.catchUpDone)
	ticker := time.NewTicker(catchUpPoll)
	defer ticker.Stop()
	var commit, target uint64 // commit: a commit index the leader knows to be current; 0 until then
	for {
		if commit == 0 {
			c, t, err := d.currentCommit()
			if err != nil {
				d.logger.Warn("catching up: read the Raft log", "err", err)
			}
			commit, target = c, t
		}
		if commit > 0 && d.fsm.appliedIndex() >= target {
			close(d.ready)
			d.logger.Info("caught up with the cluster: serving reads", "commit_index", commit,
				"applied_index", d.fsm.appliedIndex(), "after", time.Since(started).Round(time.Millisecond))
			return
		}
		select {
		case <-ticker.C:
		case <-d.stopCatchUp:
			return
		}
	}
}

// currentCommit returns raft's commit index if it is known to be current: the entry
// there is of the current term (see catchUp). It returns 0 otherwise. target is the
// index of the last command at or before it.
func (d *DistributedLog) currentCommit() (commit, target uint64, err error) {
	c := d.raft.CommitIndex()
	if c == 0 {
		return 0, 0, nil
	}
	term, err := d.termAt(c)
	if err != nil || term != d.raft.CurrentTerm() {
		return 0, 0, err
	}
	target, err = d.lastCommandAtOrBefore(c)
	if err != nil {
		return 0, 0, err
	}
	return c, target, nil
}

// termAt returns the term of the entry at index: from the Raft log, or from the
// newest snapshot if it ends there (a follower that has just installed one has no
// entries yet). It returns 0 for an index compacted away.
func (d *DistributedLog) termAt(index uint64) (uint64, error) {
	var entry raft.Log
	err := d.logStore.GetLog(index, &entry)
	if err == nil {
		return entry.Term, nil
	}
	if !errors.Is(err, raft.ErrLogNotFound) {
		return 0, err
	}
	snapshots, err := d.snapshots.List()
	if err != nil {
		return 0, err
	}
	if len(snapshots) > 0 && snapshots[0].Index == index {
		return snapshots[0].Term, nil
	}
	return 0, nil
}

// lastCommandAtOrBefore returns the index of the newest command (an append) in the
// Raft log at or before index, or 0 if there is none after the newest snapshot. Other
// entries (the one a new leader appends, configuration changes) never reach the fsm,
// so its applied index stops at the last command before them.
func (d *DistributedLog) lastCommandAtOrBefore(index uint64) (uint64, error) {
	var entry raft.Log
	for i := index; i > 0; i-- {
		err := d.logStore.GetLog(i, &entry)
		if errors.Is(err, raft.ErrLogNotFound) {
			// Compacted: what came before is in the snapshot raft restored on start.
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if entry.Type == raft.LogCommand {
			return i, nil
		}
	}
	return 0, nil
}

// Appended returns a channel closed when this server's copy of the log next changes
// (see Log.Appended).
func (d *DistributedLog) Appended() <-chan struct{} {
	return d.data.Appended()
}

// Join adds the server id, reachable at addr, to the cluster as a voter. Only the leader
// can change the cluster: elsewhere Join fails with ErrNotLeader. Joining a server that
// is already a voter at addr changes nothing. A known id at a new address (a server that
// moved), and a different server that was at addr before (a replaced machine), are
// removed first.
//
// Each change is an entry in the Raft log, in force once a majority has it (Raft paper
// §6); Join returns when it is.
func (d *DistributedLog) Join(id, addr string) error {
	servers, err := d.configuration()
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s.ID == raft.ServerID(id) && s.Address == raft.ServerAddress(addr) && s.Suffrage == raft.Voter {
			return nil
		}
		// AddVoter alone would update a known server's address, but raft v1.8.0 then
		// races with its replication goroutine (hashicorp/raft#681). The server is
		// unreachable at its old address anyway, so removing it first costs nothing.
		if (s.ID == raft.ServerID(id)) != (s.Address == raft.ServerAddress(addr)) {
			if err := d.raft.RemoveServer(s.ID, 0, d.timeout).Error(); err != nil {
				return d.raftError("join: remove "+string(s.ID)+" at "+string(s.Address), err)
			}
		}
	}
	if err := d.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, d.timeout).Error(); err != nil {
		return d.raftError("join", err)
	}
	d.logger.Info("server joined", "peer", id, "addr", addr)
	return nil
}

// Leave removes the server id from the cluster. Only the leader can change the cluster:
// elsewhere Leave fails with ErrNotLeader. Removing a server that is not a member
// changes nothing. The leader may remove itself; it then steps down.
func (d *DistributedLog) Leave(id string) error {
	if err := d.raft.RemoveServer(raft.ServerID(id), 0, d.timeout).Error(); err != nil {
		return d.raftError("leave", err)
	}
	d.logger.Info("server left", "peer", id)
	return nil
}

// configuration returns the servers of the latest cluster configuration this server
// knows.
func (d *DistributedLog) configuration() ([]raft.Server, error) {
	f := d.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, d.raftError("get configuration", err)
	}
	return f.Configuration().Servers, nil
}

// Term returns the current term as this server knows it: it grows by one at least with
// each election (§5.1), and a server that hears of a higher term takes it. Safe for
// concurrent use; for logs and tests.
func (d *DistributedLog) Term() uint64 { return d.raft.CurrentTerm() }

// WaitForLeader blocks until this server knows a leader (itself or another), or fails
// after timeout.
func (d *DistributedLog) WaitForLeader(timeout time.Duration) error {
	// An observer wakes us as soon as raft learns of a leader; the ticker covers an
	// observation dropped because the channel was full.
	ch := make(chan raft.Observation, 1)
	observer := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	d.raft.RegisterObserver(observer)
	defer d.raft.DeregisterObserver(observer)
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if _, id := d.raft.LeaderWithID(); id != "" {
			return nil
		}
		select {
		case <-ch:
		case <-ticker.C:
		case <-deadline.C:
			return fmt.Errorf("distributed log: no leader after %s", timeout)
		}
	}
}

// Server is a member of the cluster, as GetServers reports it.
type Server struct {
	ID       string // RaftConfig.LocalID
	RPCAddr  string // where it serves Raft and, on the same port, the log's API
	IsLeader bool
}

// GetServers returns every member of the cluster, in the latest configuration this
// server knows, and which one leads.
func (d *DistributedLog) GetServers() ([]*Server, error) {
	servers, err := d.configuration()
	if err != nil {
		return nil, err
	}
	// Compared by ID: the same server can appear under different addresses.
	_, leader := d.raft.LeaderWithID()
	out := make([]*Server, len(servers))
	for i, s := range servers {
		out[i] = &Server{ID: string(s.ID), RPCAddr: string(s.Address), IsLeader: s.ID == leader}
	}
	return out, nil
}

// Close stops this server's Raft (closing its StreamLayer, not the listener under it)
// and closes the stores. It is idempotent. The server stays in the cluster's
// configuration: to take it out for good, Leave first.
//
// Close always returns. raft's Shutdown waits for all of raft's goroutines; if they have
// not stopped after RaftConfig.ShutdownTimeout, Close closes the StreamLayer, and with
// it every Raft connection, which ends any of them stuck on the network, and waits as
// long again. If raft has still not stopped, Close returns an error saying so, and the
// stores are closed in the background once it does (a process that exits needs
// nothing more).
func (d *DistributedLog) Close() error {
	d.closeOnce.Do(func() {
		close(d.stopCatchUp)
		<-d.catchUpDone
		if err := d.shutdownRaft(); err != nil {
			d.closeErr = fmt.Errorf("close distributed log: %w", err)
			return
		}
		// Nothing uses the stores any more.
		if err := d.closeStores(); err != nil {
			d.closeErr = fmt.Errorf("close distributed log: %w", err)
		}
	})
	return d.closeErr
}

// shutdownRaft shuts raft down, in bounded time (see Close). When raft stops in time,
// its transport, and so the StreamLayer, is closed. When it does not, shutdownRaft
// leaves a goroutine that closes the stores once raft stops, and returns an error.
func (d *DistributedLog) shutdownRaft() error {
	stopped := make(chan error, 1)
	go func() { stopped <- d.raft.Shutdown().Error() }()
	select {
	case err := <-stopped:
		return err
	case <-time.After(d.shutdownTimeout):
	}
	d.logger.Error("raft has not stopped: closing its connections", "waited", d.shutdownTimeout)
	// The transport's Close first stops its handlers from waiting on raft, then closes
	// the StreamLayer, whose Close waits for those handlers: it may take a moment, and
	// is not waited for here. raft closes the transport again when it stops; that is a
	// no-op.
	go func() { _ = d.transport.Close() }()
	select {
	case err := <-stopped:
		d.logger.Warn("raft stopped once its connections were closed")
		return err
	case <-time.After(d.shutdownTimeout):
	}
	go func() {
		<-stopped
		if err := d.closeStores(); err != nil {
			d.logger.Error("close the stores after raft finally stopped", "err", err)
		}
	}()
	return fmt.Errorf("raft did not stop within %s, nor %s after its connections were closed: some of its "+
		"goroutines are stuck (send SIGQUIT for a dump); the stores stay open until they return",
		d.shutdownTimeout, d.shutdownTimeout)
}

// closeStores closes the stores that are open.
func (d *DistributedLog) closeStores() error {
	var errs []error
	if d.data != nil {
		errs = append(errs, d.data.Close())
	}
	if d.stable != nil {
		errs = append(errs, d.stable.Close())
	}
	if d.logStore != nil {
		errs = append(errs, d.logStore.Close())
	}
	return errors.Join(errs...)
}
