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
	// Ordered, with a producer ID, makes the append follow the producer's previous one:
	// its sequence number must be the next (or repeat one remembered, a retry), or the
	// append is refused, not applied (ErrSequenceGap). A producer that pipelines its
	// appends sets it, so that an append cannot overtake an earlier one that failed.
	Ordered bool
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
//
// Appends proposed while earlier ones commit are coalesced into one Raft entry (see
// proposer): each keeps its own offsets, and the entry costs one write to disk and one
// round of replication for all of them.
func (d *DistributedLog) Propose(ctx context.Context, req AppendRequest) (*Proposal, error) {
	size, err := d.checkRequest(req)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left < minProposeTime {
			return nil, notApplied(ReasonDeadlineBeforePropose,
				fmt.Errorf("%s left of the caller's deadline: too little to propose the append", left.Round(time.Microsecond)))
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, notApplied(ReasonDeadlineBeforePropose, err)
	}
	switch d.raft.State() {
	case raft.Shutdown:
		return nil, ErrClosed
	case raft.Leader:
	default:
		addr, id := d.raft.LeaderWithID()
		return nil, ErrNotLeader{LeaderAddr: string(addr), LeaderID: string(id)}
	}
	p := &Proposal{ctx: ctx, req: req, size: size, done: make(chan struct{})}
	select {
	case d.proposals <- p:
		return p, nil
	case <-ctx.Done():
		return nil, notApplied(ReasonDeadlineBeforePropose, ctx.Err())
	case <-d.stop:
		return nil, ErrClosed
	}
}

// A Proposal is an append handed to Raft, whose outcome is not known yet.
type Proposal struct {
	ctx  context.Context // the proposer's: it is not proposed once this ends
	req  AppendRequest
	size int // the bytes it adds to an entry

	done chan struct{} // closed once res and err are set
	res  AppendResult
	err  error
}

// resolve sets the proposal's outcome.
func (p *Proposal) resolve(res AppendResult, err error) {
	p.res, p.err = res, err
	close(p.done)
}

// Wait waits for the append to be committed and applied, and returns what Append
// returns. When ctx ends first, the error is MaybeApplied (ReasonStoppedWaiting): the
// append goes on without the caller. Wait may be called more than once.
func (p *Proposal) Wait(ctx context.Context) (AppendResult, error) {
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		return AppendResult{}, maybeApplied(ReasonStoppedWaiting,
			fmt.Errorf("stopped waiting for the append to commit: %w", ctx.Err()))
	}
}

// checkRequest checks req and returns the bytes it adds to an entry.
func (d *DistributedLog) checkRequest(req AppendRequest) (int, error) {
	if len(req.Values) == 0 {
		return 0, notApplied(ReasonInvalidRequest, errors.New("no records"))
	}
	if len(req.ProducerID) > maxProducerIDBytes {
		return 0, notApplied(ReasonInvalidRequest, fmt.Errorf("a producer ID of %d bytes, at most %d",
			len(req.ProducerID), maxProducerIDBytes))
	}
	if req.ProducerID != "" && req.Sequence == 0 {
		return 0, notApplied(ReasonInvalidRequest, errors.New("an idempotent append needs a sequence number from 1 on"))
	}
	limit := d.data.MaxStoreBytes()
	size := batchHeaderSize + len(req.ProducerID)
	for _, v := range req.Values {
		frame, err := storage.RecordFrameSize(&storage.Record{Value: v})
		if err != nil {
			return 0, fmt.Errorf("distributed log: append: %w", err)
		}
		if frame > limit {
			return 0, fmt.Errorf("distributed log: append: a record takes up to %d bytes on disk, a segment holds %d: %w",
				frame, limit, storage.ErrRecordTooLarge)
		}
		size += valueHeaderSize + len(v)
	}
	// The Raft log's segments hold raftEntryOverhead more than the data log's.
	if uint64(commandHeaderSize+size) > limit {
		return 0, fmt.Errorf("distributed log: append: %d records of %d bytes in all, more than a segment holds (%d): %w",
			len(req.Values), size, limit, storage.ErrRecordTooLarge)
	}
	return size, nil
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
