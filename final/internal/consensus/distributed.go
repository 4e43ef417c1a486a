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

	"golog/internal/storage"
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

	data      *storage.Log // the records: the state machine's state
	fsm       *fsm
	logStore  *LogStore
	stable    *StableStore
	snapshots *SnapshotStore
	transport *raft.NetworkTransport
	raft      *raft.Raft

	// applied is closed and replaced whenever the state machine applies entries or
	// restores a snapshot: reads that wait for an index wait on it.
	appliedMu sync.Mutex
	applied   chan struct{}

	targets commandTargets // see waitApplied

	proposals chan *Proposal // appends waiting to be proposed (see proposer)

	ready   chan struct{} // closed once the server has caught up (see Read)
	stop    chan struct{} // closed by Close: the background goroutines return
	stopped sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// NewDistributedLog opens or creates the distributed log stored in dataDir and starts
// its Raft server. c.Segment configures both the data log and the Raft log's segments
// and must be the same on every server; c.Raft configures Raft.
//
// A new server with c.Raft.Bootstrap set starts a cluster of one and becomes its leader;
// other new servers wait until a leader adds them (Join). A server restarting from
// dataDir rejoins the cluster it was in, with the records it had, and never bootstraps
// again.
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	d := &DistributedLog{
		config:          c,
		logger:          c.Logger.With("node", string(c.Raft.LocalID)),
		timeout:         cmp.Or(c.Raft.ApplyTimeout, defaultApplyTimeout),
		shutdownTimeout: cmp.Or(c.Raft.ShutdownTimeout, defaultShutdownTimeout),
		applied:         make(chan struct{}),
		proposals:       make(chan *Proposal, proposerQueue),
		ready:           make(chan struct{}),
		stop:            make(chan struct{}),
	}
	if err := d.open(dataDir); err != nil {
		return nil, errors.Join(fmt.Errorf("distributed log %s: %w", dataDir, err), d.closeStores(),
			c.Raft.StreamLayer.Close())
	}
	d.goBackground(func() { d.catchUp(time.Now()) })
	d.goBackground(d.retain)
	d.goBackground(d.runProposer)
	return d, nil
}

// goBackground runs f in a goroutine that Close waits for.
func (d *DistributedLog) goBackground(f func()) {
	d.stopped.Add(1)
	go func() {
		defer d.stopped.Done()
		f()
	}()
}

// open opens the stores, then starts raft. On error the caller closes what is open.
func (d *DistributedLog) open(dataDir string) error {
	c := d.config
	hclogger := newHCLogger(d.logger).Named("raft") // its lines say logger=raft

	if err := os.MkdirAll(filepath.Join(dataDir, raftDir), 0o755); err != nil {
		return err
	}
	segments, err := storage.Config{Segment: c.Segment}.WithDefaults()
	if err != nil {
		return err
	}
	raftLogConfig := storage.Config{Segment: segments.Segment, Logger: d.logger}
	raftLogConfig.Segment.MaxStoreBytes += raftEntryOverhead
	if d.logStore, err = NewLogStore(filepath.Join(dataDir, raftDir, raftLogDir), raftLogConfig); err != nil {
		return err
	}
	d.logStore.noSync = c.Durability == SyncNever
	if d.stable, err = NewStableStore(filepath.Join(dataDir, raftDir, stableFile)); err != nil {
		return err
	}
	if d.snapshots, err = NewSnapshotStore(filepath.Join(dataDir, raftDir, snapshotsDir), snapshotsRetained,
		d.logger); err != nil {
		return err
	}
	dataConfig := storage.Config{Segment: segments.Segment, Logger: d.logger}
	if d.data, err = storage.NewLog(filepath.Join(dataDir, dataLogDir), dataConfig); err != nil {
		return err
	}
	d.fsm = newFSM(d.data, filepath.Join(dataDir, raftDir), d.logger, d.notifyApplied)

	rc := raft.DefaultConfig()
	rc.LocalID = c.Raft.LocalID
	rc.Logger = hclogger
	// A removed server keeps running as a follower outside the cluster, so its process
	// (and the gRPC server on the same port) stays up until it is closed.
	rc.ShutdownOnRemove = false
	rc.SnapshotInterval = defaultSnapshotInterval
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
	start := time.Now()
	// Raft reads the entries it has just stored from memory (see logCache).
	logs := &logCache{LogStore: d.logStore}
	if d.raft, err = raft.NewRaft(rc, d.fsm, logs, d.stable, d.snapshots, d.transport); err != nil {
		return errors.Join(err, d.transport.Close())
	}
	d.logger.Debug("raft started", "after", time.Since(start).Round(time.Millisecond),
		"applied_index", d.fsm.appliedIndex(), "offset", d.fsm.next.Load())
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

// notifyApplied wakes the reads waiting for the state machine; the fsm calls it.
func (d *DistributedLog) notifyApplied() {
	d.appliedMu.Lock()
	defer d.appliedMu.Unlock()
	close(d.applied)
	d.applied = make(chan struct{})
}

// appliedSignal returns a channel closed when the state machine next applies entries.
func (d *DistributedLog) appliedSignal() <-chan struct{} {
	d.appliedMu.Lock()
	defer d.appliedMu.Unlock()
	return d.applied
}

// Appended returns a channel closed when this server's copy of the log next changes:
// records applied, or a snapshot restored.
func (d *DistributedLog) Appended() <-chan struct{} {
	return d.appliedSignal()
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

// TransferLeadership makes another voter the leader, if this server leads: raft brings
// the most up-to-date follower level and tells it to start an election, which it wins.
// A server that is stopping does it first, so that the writes in flight complete under
// the next leader instead of failing. It fails with ErrNotLeader elsewhere.
func (d *DistributedLog) TransferLeadership() error {
	if err := d.raft.LeadershipTransfer().Error(); err != nil {
		return d.raftError("transfer leadership", err)
	}
	return nil
}

// raftError turns an error from a raft future of a cluster change into the error op
// returns.
func (d *DistributedLog) raftError(op string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		addr, id := d.raft.LeaderWithID()
		return ErrNotLeader{LeaderAddr: string(addr), LeaderID: string(id)}
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("distributed log: %s: %w", op, ErrClosed)
	default:
		return fmt.Errorf("distributed log: %s: %w", op, err)
	}
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

// Status is one server's view of the cluster and of its log.
type Status struct {
	ID                 string
	State              string // Leader, Follower, Candidate or Shutdown
	Term               uint64
	LeaderID           string
	LeaderAddr         string
	LastIndex          uint64 // the newest Raft entry this server has
	CommitIndex        uint64 // the newest it knows to be committed
	AppliedIndex       uint64 // the newest command its records reflect
	LowestOffset       uint64 // the records it serves: [LowestOffset, NextOffset)
	NextOffset         uint64
	Ready              bool      // it has caught up after its start (see Read)
	LastContact        time.Time // a follower's last word from the leader; zero on the leader
	SnapshotIndex      uint64    // the Raft index of its newest snapshot
	FirstRaftLogIndex  uint64    // the oldest entry left in its Raft log
	DataSegmentsOnDisk int
}

// Status returns this server's status.
func (d *DistributedLog) Status() Status {
	addr, id := d.raft.LeaderWithID()
	s := Status{
		ID:           string(d.config.Raft.LocalID),
		State:        d.raft.State().String(),
		Term:         d.raft.CurrentTerm(),
		LeaderID:     string(id),
		LeaderAddr:   string(addr),
		LastIndex:    d.raft.LastIndex(),
		CommitIndex:  d.raft.CommitIndex(),
		AppliedIndex: d.fsm.appliedIndex(),
		LowestOffset: d.fsm.lowest.Load(),
		NextOffset:   d.fsm.next.Load(),
	}
	select {
	case <-d.ready:
		s.Ready = true
	default:
	}
	if s.State != raft.Leader.String() {
		s.LastContact = d.raft.LastContact()
	}
	if snapshots, err := d.snapshots.List(); err == nil && len(snapshots) > 0 {
		s.SnapshotIndex = snapshots[0].Index
	}
	s.FirstRaftLogIndex, _ = d.logStore.FirstIndex()
	return s
}

// Close stops this server's Raft (closing its StreamLayer, not the listener under it)
// and closes the stores. It is idempotent. The server stays in the cluster's
// configuration: to take it out for good, Leave first.
//
// Close always returns. raft's Shutdown waits for all of raft's goroutines; if they have
// not stopped after RaftConfig.ShutdownTimeout, Close closes the transport, and with it
// every Raft connection, which ends any of them stuck on the network, and waits as long
// again. If raft has still not stopped, Close returns an error saying so, and the
// stores are closed in the background once it does (a process that exits needs
// nothing more).
func (d *DistributedLog) Close() error {
	d.closeOnce.Do(func() {
		close(d.stop)
		d.stopped.Wait()
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

// Segments returns the data log's segments as they are now, oldest first
// (storage.Log.Segments): how many there are and their sizes, for the metrics.
func (d *DistributedLog) Segments() []storage.SegmentFile {
	return d.data.Segments()
}
