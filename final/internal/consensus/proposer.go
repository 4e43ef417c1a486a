package consensus

import (
	"errors"
	"fmt"
	"time"
)

// # Coalescing appends into Raft entries
//
// Every Raft entry costs the same whatever it holds: a write to the Raft log and its
// flush to disk on a majority of servers, a place in an AppendEntries round, a trip
// through the state machine. So appends that wait while earlier ones commit go into
// the same entry, each as a batch of its own (the state machine gives each its
// offsets, in order, and answers each): under load an entry holds many appends, and
// a lone append is proposed at once.
//
// One goroutine, run, takes proposals off a queue in the order they came and proposes
// them; at most proposerInFlight entries are being committed at a time. While that many
// are in flight, new proposals wait in the queue, and go together into the next entry,
// up to maxEntryBytes.

// Limits of the proposer.
const (
	proposerQueue    = 4096      // proposals waiting to be proposed
	proposerInFlight = 2         // entries proposed and not committed yet
	maxEntryBytes    = 256 << 10 // the most an entry holds, unless one append is larger alone
)

// proposer is run's state.
type proposer struct {
	d        *DistributedLog
	inFlight chan struct{} // a token per entry in flight
	next     *Proposal     // taken off the queue, not yet in an entry
}

// runProposer proposes what is queued in d.proposals until Close; proposals still
// queued then fail with ErrClosed (not applied).
func (d *DistributedLog) runProposer() {
	p := &proposer{d: d, inFlight: make(chan struct{}, proposerInFlight)}
	for {
		entry, ok := p.gather()
		if !ok {
			p.failQueued()
			return
		}
		p.propose(entry)
	}
}

// gather waits for a proposal and for room in flight, then takes as many queued
// proposals as fit in one entry. It returns false when the log is closed.
func (p *proposer) gather() ([]*Proposal, bool) {
	d := p.d
	first := p.next
	p.next = nil
	if first == nil {
		select {
		case first = <-d.proposals:
		case <-d.stop:
			return nil, false
		}
	}
	select {
	case p.inFlight <- struct{}{}:
	case <-d.stop:
		first.resolve(AppendResult{}, ErrClosed)
		return nil, false
	}
	entry := []*Proposal{first}
	size := commandHeaderSize + first.size
	for {
		select {
		case next := <-d.proposals:
			if size+next.size > maxEntryBytes {
				p.next = next // the first of the next entry
				return entry, true
			}
			entry = append(entry, next)
			size += next.size
		default:
			return entry, true
		}
	}
}

// propose proposes the proposals of entry that are still wanted as one Raft entry, and
// resolves them once it commits, in a goroutine that frees the entry's place in flight.
func (p *proposer) propose(entry []*Proposal) {
	d := p.d
	wanted := entry[:0]
	timeout := d.timeout
	for _, prop := range entry {
		if deadline, ok := prop.ctx.Deadline(); ok {
			left := time.Until(deadline)
			if left < minProposeTime {
				prop.resolve(AppendResult{}, notApplied(ReasonDeadlineBeforePropose,
					fmt.Errorf("the caller's deadline passed while the append waited to be proposed")))
				continue
			}
			timeout = min(timeout, left)
		}
		wanted = append(wanted, prop)
	}
	if len(wanted) == 0 {
		<-p.inFlight
		return
	}
	batches := make([]batch, len(wanted))
	for i, prop := range wanted {
		batches[i] = batch{producer: prop.req.ProducerID, ordered: prop.req.Ordered && prop.req.ProducerID != "",
			sequence: prop.req.Sequence, values: prop.req.Values}
	}
	cmd, err := encodeAppend(time.Now().UnixNano(), batches)
	if err != nil {
		resolveAll(wanted, AppendResult{}, err)
		<-p.inFlight
		return
	}
	future := d.raft.Apply(cmd, timeout)
	go func() {
		defer func() { <-p.inFlight }()
		if err := future.Error(); err != nil {
			resolveAll(wanted, AppendResult{}, d.applyError(err))
			return
		}
		d.resolveEntry(wanted, future.Response())
	}()
}

// resolveEntry hands each proposal of a committed entry its batch's result.
func (d *DistributedLog) resolveEntry(entry []*Proposal, response any) {
	results, ok := response.([]appendResult)
	if !ok || len(results) != len(entry) {
		err, _ := response.(error)
		if err == nil {
			err = fmt.Errorf("unexpected response %T from the state machine", response)
		}
		// The state machine stopped (its disk failed): the entry is committed, and
		// applied on the other servers.
		resolveAll(entry, AppendResult{}, fmt.Errorf("distributed log: append: %w", err))
		return
	}
	for i, prop := range entry {
		r := results[i]
		switch {
		case errors.Is(r.err, ErrSequenceTooOld):
			prop.resolve(AppendResult{}, notApplied(ReasonSequenceTooOld, r.err))
		case errors.Is(r.err, ErrSequenceGap):
			prop.resolve(AppendResult{}, notApplied(ReasonSequenceGap, r.err))
		case r.err != nil:
			prop.resolve(AppendResult{}, fmt.Errorf("distributed log: append: %w", r.err))
		default:
			prop.resolve(AppendResult{Offset: r.first, Count: int(r.count), Duplicate: r.duplicate}, nil)
		}
	}
}

// resolveAll resolves every proposal of entry alike.
func resolveAll(entry []*Proposal, res AppendResult, err error) {
	for _, prop := range entry {
		prop.resolve(res, err)
	}
}

// failQueued fails the proposals still queued when the log closes.
func (p *proposer) failQueued() {
	if p.next != nil {
		p.next.resolve(AppendResult{}, ErrClosed)
	}
	for {
		select {
		case prop := <-p.d.proposals:
			prop.resolve(AppendResult{}, ErrClosed)
		default:
			return
		}
	}
}
