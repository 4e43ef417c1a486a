package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"golog/internal/storage"
)

// Consistency says how fresh a read must be.
type Consistency int

const (
	// Linearizable reads reflect every append acknowledged before the read began, on
	// any server: the server learns from the leader how far the log is committed
	// (ReadIndex) and waits until it has applied that much. Out of range then means
	// the record was never written (or is below the retention point). The default.
	Linearizable Consistency = iota
	// Local reads answer at once from what this server has applied. A follower may be
	// a moment behind the leader: a record it has not applied yet is out of range there,
	// though it is written. Never before the server has caught up after its start.
	Local
)

func (c Consistency) String() string {
	switch c {
	case Linearizable:
		return "linearizable"
	case Local:
		return "local"
	}
	return fmt.Sprintf("Consistency(%d)", int(c))
}

// ErrOffsetOutOfRange is returned by Read for an offset the log holds no record at:
// below its lowest offset (removed by retention, or never written) or not written yet.
// For a Local read on a follower, "not written yet" may mean "not applied here yet":
// the indexes say how far this server has got.
type ErrOffsetOutOfRange struct {
	storage.ErrOffsetOutOfRange
	AppliedIndex uint64 // the Raft index of the last command this server applied
	CommitIndex  uint64 // the newest Raft index this server knows to be committed
}

// Unwrap returns the storage error, so that errors.As finds a storage.ErrOffsetOutOfRange
// too.
func (e ErrOffsetOutOfRange) Unwrap() error { return e.ErrOffsetOutOfRange }

// Read returns the record at off, as fresh as c asks (see Consistency). It fails with
// ErrCatchingUp until this server has caught up after its start (see catchUp), and
// while it restores a snapshot; with ErrNotLeader when a Linearizable read cannot learn
// the leader's commit index; with ErrOffsetOutOfRange for an offset the log does not
// hold; and with the context's error when ctx ends first.
func (d *DistributedLog) Read(ctx context.Context, off uint64, c Consistency) (*storage.Record, error) {
	if err := d.readable(ctx, c); err != nil {
		return nil, err
	}
	return d.readLocal(off)
}

// readBatchBytes bounds the bytes one ReadBatch reads from disk.
const readBatchBytes = 256 << 10

// ReadBatch returns the record at off and up to limit-1 of those after it that this
// server has applied, in order: Read for a reader going through the log, with one read
// from disk for many records. The first is as fresh as c asks, the others later still.
// Its errors are Read's, for the record at off.
func (d *DistributedLog) ReadBatch(ctx context.Context, off uint64, limit int, c Consistency) ([]*storage.Record, error) {
	if err := d.readable(ctx, c); err != nil {
		return nil, err
	}
	return d.readLocalBatch(off, limit)
}

// readable returns nil once a read of consistency c may be served here: the server is
// open and caught up, and for a Linearizable read it has applied every append
// acknowledged before the call.
func (d *DistributedLog) readable(ctx context.Context, c Consistency) error {
	select {
	case <-d.stop:
		return ErrClosed
	default:
	}
	if err := d.fsm.err(); err != nil {
		return err
	}
	select {
	case <-d.ready:
	default:
		return ErrCatchingUp
	}
	if c == Linearizable {
		index, err := d.readIndex(ctx)
		if err != nil {
			return err
		}
		if err := d.waitApplied(ctx, index); err != nil {
			return err
		}
	}
	return nil
}

// Ready returns a channel that is closed once this server has caught up with the
// cluster after it started, and serves reads (see Read).
func (d *DistributedLog) Ready() <-chan struct{} {
	return d.ready
}

// readLocal reads off from this server's records.
func (d *DistributedLog) readLocal(off uint64) (*storage.Record, error) {
	if _, err := d.appliedUpTo(off); err != nil {
		return nil, err
	}
	r, err := d.data.Read(off)
	return r, d.rangeMoved(err)
}

// readLocalBatch is readLocal for up to limit records from off on.
func (d *DistributedLog) readLocalBatch(off uint64, limit int) ([]*storage.Record, error) {
	next, err := d.appliedUpTo(off)
	if err != nil {
		return nil, err
	}
	n := min(uint64(max(limit, 1)), next-off)
	records, err := d.data.ReadBatch(off, int(n), readBatchBytes)
	return records, d.rangeMoved(err)
}

// appliedUpTo returns nil and the next offset to be applied here if this server has
// applied the record at off and is not restoring a snapshot; otherwise the error a
// read of off gets.
func (d *DistributedLog) appliedUpTo(off uint64) (next uint64, err error) {
	if d.fsm.restoring.Load() {
		return 0, ErrCatchingUp
	}
	lowest, next := d.fsm.lowest.Load(), d.fsm.next.Load()
	if off < lowest || off >= next {
		return 0, ErrOffsetOutOfRange{
			ErrOffsetOutOfRange: storage.ErrOffsetOutOfRange{Offset: off, Lowest: lowest, Next: next},
			AppliedIndex:        d.fsm.appliedIndex(),
			CommitIndex:         d.raft.CommitIndex(),
		}
	}
	return next, nil
}

// rangeMoved returns err of a read of the data log, an ErrOffsetOutOfRange of the
// storage made this package's: a snapshot restored in between moved the range.
func (d *DistributedLog) rangeMoved(err error) error {
	if e, ok := errors.AsType[storage.ErrOffsetOutOfRange](err); ok {
		return ErrOffsetOutOfRange{ErrOffsetOutOfRange: e, AppliedIndex: d.fsm.appliedIndex(),
			CommitIndex: d.raft.CommitIndex()}
	}
	return err
}

// readIndex returns a commit index that covers every append acknowledged before it was
// called: on the leader its own (ReadIndex), on a follower the leader's, asked over
// the network.
func (d *DistributedLog) readIndex(ctx context.Context) (uint64, error) {
	if d.raft.State() == raft.Leader {
		return d.ReadIndex(ctx)
	}
	addr, id := d.raft.LeaderWithID()
	if id == "" || d.config.ReadIndex == nil {
		return 0, ErrNotLeader{LeaderAddr: string(addr), LeaderID: string(id)}
	}
	index, err := d.config.ReadIndex(ctx, string(addr))
	if err != nil {
		return 0, fmt.Errorf("%w: asked %s at %s: %w", ErrNoReadIndex, id, addr, err)
	}
	return index, nil
}

// ReadIndex returns the leader's commit index, confirmed to be current (Raft
// dissertation §6.4): a server that has applied up to it can answer a read with
// everything acknowledged before ReadIndex was called. The leader first waits until
// it has committed an entry of its own term (a new leader may not know the latest
// commit, §5.4.2), notes its commit index, then checks with a majority that it still
// leads (raft's VerifyLeader: a round of heartbeats, shared by the reads that ask at
// the same time). Only the leader answers; elsewhere ReadIndex fails with ErrNotLeader.
func (d *DistributedLog) ReadIndex(ctx context.Context) (uint64, error) {
	ticker := time.NewTicker(catchUpPoll)
	defer ticker.Stop()
	var index uint64
	for {
		if d.raft.State() != raft.Leader {
			addr, id := d.raft.LeaderWithID()
			return 0, ErrNotLeader{LeaderAddr: string(addr), LeaderID: string(id)}
		}
		c, current, err := d.currentCommit()
		if err != nil {
			return 0, err
		}
		if current {
			index = c
			break
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err := d.raft.VerifyLeader().Error(); err != nil {
		return 0, d.raftError("read index", err)
	}
	return index, nil
}

// currentCommit returns raft's commit index, and whether it is known to be current: the
// entry there is of the current term (see ReadIndex and catchUp). The entry is read
// from the Raft log, or from the newest snapshot if it ends there (a follower that has
// just installed one has no entries yet).
func (d *DistributedLog) currentCommit() (uint64, bool, error) {
	c := d.raft.CommitIndex()
	if c == 0 {
		return 0, false, nil
	}
	term, err := d.termAt(c)
	if err != nil {
		return 0, false, err
	}
	return c, term == d.raft.CurrentTerm(), nil
}

// termAt returns the term of the entry at index, or 0 if it is gone (compacted).
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

// waitApplied waits until this server's records reflect every command up to the Raft
// index index: raft has handed it every entry up to there, and the state machine has
// applied the last command among them. (Entries that are not commands, such as the one
// a new leader appends, never reach the state machine, so its applied index may stop
// short of index for good.)
func (d *DistributedLog) waitApplied(ctx context.Context, index uint64) error {
	ticker := time.NewTicker(catchUpPoll)
	defer ticker.Stop()
	for {
		signal := d.appliedSignal()
		if d.fsm.appliedIndex() >= index {
			return nil
		}
		if d.raft.AppliedIndex() >= index {
			target, err := d.targets.lastCommand(d.logStore, index)
			if err != nil {
				return err
			}
			if d.fsm.appliedIndex() >= target {
				return nil
			}
		}
		select {
		case <-signal:
		case <-ticker.C: // raft's own progress has no signal
		case <-ctx.Done():
			return ctx.Err()
		case <-d.stop:
			return ErrClosed
		}
	}
}

// commandTargets remembers, for the last index asked, the index of the last command at
// or before it: reads ask the same index many times over, and finding it reads the
// Raft log.
type commandTargets struct {
	mu            sync.Mutex
	index, target uint64
}

// lastCommand returns the index of the newest command in the Raft log at or before
// index, or 0 if there is none after the newest snapshot (what came before is in it).
func (t *commandTargets) lastCommand(logs *LogStore, index uint64) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.index == index {
		return t.target, nil
	}
	var entry raft.Log
	target := uint64(0)
	for i := index; i > 0; i-- {
		err := logs.GetLog(i, &entry)
		if errors.Is(err, raft.ErrLogNotFound) {
			break
		}
		if err != nil {
			return 0, err
		}
		if entry.Type == raft.LogCommand {
			target = i
			break
		}
	}
	t.index, t.target = index, target
	return target, nil
}

// catchUp closes d.ready once the server has applied every command the cluster had
// committed when it started. It returns then, or when Close is called.
//
// What is committed is the leader's to say, so the server asks for a read index (see
// readIndex: the leader's commit index, confirmed current; on the leader, its own),
// which covers every entry committed before the question, and so before the start.
// What is left is to wait until the state machine has applied up to it.
//
// Raft's own commit index on this server is not enough. On a follower raft sets it to
// the leader's or to the follower's last entry, whichever is lower; a follower that
// restarts far behind a leader of the same term holds entries of the current term, and
// after the first AppendEntries of its catch-up (64 entries at most) its commit index
// is one of them, far short of the leader's. Only where no read index can be asked
// for (a follower without Config.ReadIndex) does catchUp fall back to it: it waits
// until the entry at raft's commit index is of the current term, the entry raft
// appends at the start of every term (Raft paper §5.4.2, §8) having shown that a new
// leader knows the latest commit.
func (d *DistributedLog) catchUp(started time.Time) {
	// ctx ends with Close, so that a question to the leader does not hold Close up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	ticker := time.NewTicker(catchUpPoll)
	defer ticker.Stop()
	for {
		index, ok := d.catchUpIndex(ctx)
		if ok {
			if err := d.waitApplied(ctx, index); err != nil {
				return // closed
			}
			close(d.ready)
			d.logger.Info("caught up with the cluster: serving reads", "commit_index", index,
				"applied_index", d.fsm.appliedIndex(), "offset", d.fsm.next.Load(),
				"after", time.Since(started).Round(time.Millisecond))
			return
		}
		select {
		case <-ticker.C:
		case <-d.stop:
			return
		}
	}
}

// catchUpIndex returns the Raft index catchUp waits for, if it can be learnt now.
func (d *DistributedLog) catchUpIndex(ctx context.Context) (uint64, bool) {
	if d.raft.State() != raft.Leader && d.config.ReadIndex == nil {
		c, current, err := d.currentCommit()
		if err != nil {
			d.logger.Warn("catching up: read the Raft log", "err", err)
		}
		return c, current
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpAsk)
	defer cancel()
	index, err := d.readIndex(ctx)
	if err != nil {
		d.logger.Debug("catching up: no read index yet", "err", err)
		return 0, false
	}
	return index, true
}

// catchUpAsk bounds one request for a read index while catching up: a leader that does
// not answer is asked again, or another one once elected.
const catchUpAsk = 2 * time.Second
