package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"golog/internal/storage"
)

// An AppendRequest asks for records to be appended, at consecutive offsets, all or
// none.
type AppendRequest struct {
	// Values are the records' values. At least one.
	Values [][]byte
	// ProducerID and Sequence make the append idempotent (see producers.go): a request
	// with the producer ID and sequence number of one already applied appends nothing
	// and answers where its records went. ProducerID "" turns it off. Sequence starts
	// at 1.
	ProducerID string
	Sequence   uint64
}

// An AppendResult says where an append's records are: Count records from offset
// Offset. Duplicate is true when the request repeated one already applied; Offset is
// then where that one's records went.
type AppendResult struct {
	Offset    uint64
	Count     int
	Duplicate bool
}

// minProposeTime is the least time a caller's deadline must leave for an append to be
// proposed: one that cannot even reach the Raft log in time is refused as not applied,
// rather than proposed and likely applied after the caller has given up.
const minProposeTime = 5 * time.Millisecond

// Append replicates the records of req and returns where they are in every server's
// log. Only the leader appends: elsewhere Append fails with ErrNotLeader, which names
// the leader when one is known. It returns once the records are committed (on disk on
// a majority of servers) and applied on this server.
//
// Every error says whether the records were applied (see AppendError): ErrNotLeader,
// ErrClosed, storage.ErrRecordTooLarge and an AppendError of NotApplied mean they were
// not; an AppendError of MaybeApplied means they may be. ctx bounds the wait: when it
// ends before the records are proposed the error is NotApplied
// (ReasonDeadlineBeforePropose); after, MaybeApplied (ReasonStoppedWaiting).
func (d *DistributedLog) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	p, err := d.Propose(ctx, req)
	if err != nil {
		return AppendResult{}, err
	}
	return p.Wait(ctx)
}

// Propose hands the append of req to Raft and returns without waiting for it to
// commit; Wait on the result for that. Appends proposed one after the other, from one
// goroutine, are appended in that order. An error means nothing was proposed: it is one
// of the NotApplied errors of Append.
func (d *DistributedLog) Propose(ctx context.Context, req AppendRequest) (*Proposal, error) {
	cmd, err := d.encodeAppend(req)
	if err != nil {
		return nil, err
	}
	timeout := d.timeout
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left < minProposeTime {
			return nil, notApplied(ReasonDeadlineBeforePropose,
				fmt.Errorf("%s left of the caller's deadline: too little to propose the append", left.Round(time.Microsecond)))
		}
		timeout = min(timeout, left)
	}
	if err := ctx.Err(); err != nil {
		return nil, notApplied(ReasonDeadlineBeforePropose, err)
	}
	if d.raft.State() == raft.Shutdown {
		return nil, ErrClosed
	}
	p := &Proposal{d: d, future: d.raft.Apply(cmd, timeout), done: make(chan struct{})}
	go func() {
		_ = p.future.Error() // blocks until raft has an outcome
		close(p.done)
	}()
	return p, nil
}

// A Proposal is an append handed to Raft, whose outcome is not known yet.
type Proposal struct {
	d      *DistributedLog
	future raft.ApplyFuture
	done   chan struct{} // closed when the future has its outcome
}

// Wait waits for the append to be committed and applied, and returns what Append
// returns. When ctx ends first, the error is MaybeApplied (ReasonStoppedWaiting): the
// append goes on without the caller. Wait may be called more than once.
func (p *Proposal) Wait(ctx context.Context) (AppendResult, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		return AppendResult{}, maybeApplied(ReasonStoppedWaiting,
			fmt.Errorf("stopped waiting for the append to commit: %w", ctx.Err()))
	}
	if err := p.future.Error(); err != nil {
		return AppendResult{}, p.d.applyError(err)
	}
	return appendResponse(p.future.Response())
}

// encodeAppend checks req and returns its command.
func (d *DistributedLog) encodeAppend(req AppendRequest) ([]byte, error) {
	if len(req.Values) == 0 {
		return nil, errors.New("distributed log: append: no records")
	}
	if len(req.ProducerID) > maxProducerIDBytes {
		return nil, fmt.Errorf("distributed log: append: a producer ID of %d bytes, at most %d",
			len(req.ProducerID), maxProducerIDBytes)
	}
	if req.ProducerID != "" && req.Sequence == 0 {
		return nil, errors.New("distributed log: append: an idempotent append needs a sequence number from 1 on")
	}
	limit := d.data.MaxStoreBytes()
	for _, v := range req.Values {
		size, err := storage.RecordFrameSize(&storage.Record{Value: v})
		if err != nil {
			return nil, fmt.Errorf("distributed log: append: %w", err)
		}
		if size > limit {
			return nil, fmt.Errorf("distributed log: append: a record takes up to %d bytes on disk, a segment holds %d: %w",
				size, limit, storage.ErrRecordTooLarge)
		}
	}
	cmd, err := encodeAppend(time.Now().UnixNano(),
		[]batch{{producer: req.ProducerID, sequence: req.Sequence, values: req.Values}})
	if err != nil {
		return nil, fmt.Errorf("distributed log: append: %w", err)
	}
	// The Raft log's segments hold raftEntryOverhead more than the data log's.
	if uint64(len(cmd)) > limit {
		return nil, fmt.Errorf("distributed log: append: %d records of %d bytes in all, more than a segment holds (%d): %w",
			len(req.Values), len(cmd), limit, storage.ErrRecordTooLarge)
	}
	return cmd, nil
}

// applyError turns the error of an Apply future into what Append returns.
func (d *DistributedLog) applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		addr, id := d.raft.LeaderWithID()
		return ErrNotLeader{LeaderAddr: string(addr), LeaderID: string(id)}
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return notApplied(ReasonQueueFull, err)
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return notApplied(ReasonLeadershipTransfer, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return maybeApplied(ReasonLeadershipLost, fmt.Errorf("the leader lost its quorum before the append "+
			"was committed; the next leader may still commit it: %w", err))
	case errors.Is(err, raft.ErrRaftShutdown):
		// Raft stopped after taking the command (it was not stopped just before).
		return maybeApplied(ReasonShutdownAfterPropose, err)
	default:
		return maybeApplied(ReasonLeadershipLost, err)
	}
}

// appendResponse turns the state machine's response to a one-batch append into what
// Append returns.
func appendResponse(resp any) (AppendResult, error) {
	switch r := resp.(type) {
	case []appendResult:
		if len(r) != 1 {
			return AppendResult{}, fmt.Errorf("distributed log: append: %d results from the state machine for one batch", len(r))
		}
		if r[0].err != nil {
			if errors.Is(r[0].err, ErrSequenceTooOld) {
				return AppendResult{}, notApplied(ReasonSequenceTooOld, r[0].err)
			}
			return AppendResult{}, fmt.Errorf("distributed log: append: %w", r[0].err)
		}
		return AppendResult{Offset: r[0].first, Count: int(r[0].count), Duplicate: r[0].duplicate}, nil
	case error:
		// The state machine stopped (its disk failed): the entry is committed, and
		// applied on the other servers.
		return AppendResult{}, fmt.Errorf("distributed log: append: %w", r)
	default:
		return AppendResult{}, fmt.Errorf("distributed log: append: unexpected response %T from the state machine", resp)
	}
}
