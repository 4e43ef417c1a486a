package consensus

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// # Idempotent appends
//
// A client that sends a write and gets no answer (a timeout, a leader that lost its
// quorum, a dropped connection) cannot tell whether the write was applied. Retrying may
// append the record twice. So, as Kafka's idempotent producer does, a producer names
// itself (an ID) and numbers its writes (a sequence number, 1, 2, 3, ...), and a retry
// reuses the number. The state machine remembers, per producer, the sequence numbers of
// its latest batches and where they went: a batch it has seen is not applied again,
// and the append answers with the offsets it got the first time.
//
// This memory is part of the replicated state: every server builds the same table
// from the same entries, in the same order, so it survives a change of leader, and it
// is in every snapshot. It is bounded: producerWindow sequence numbers per producer,
// maxProducers producers. A sequence number older than the window cannot be checked
// and is refused (ErrSequenceTooOld); the producer least recently heard from is
// forgotten when a new one would exceed the limit. Both rules only look at the entries,
// so every server forgets the same things.

// Limits of the producer table.
const (
	producerWindow = 64   // sequence numbers remembered per producer
	maxProducers   = 4096 // producers remembered
)

// ErrSequenceTooOld is returned by an idempotent append whose sequence number is older
// than any the log remembers for its producer: the log can no longer tell whether it
// was applied, so it does not apply it. The outcome of the first attempt is unknown.
var ErrSequenceTooOld = errors.New("the sequence number is older than the log remembers for its producer")

// ErrSequenceGap is returned by an ordered append (AppendRequest.Ordered) whose
// sequence number does not follow its producer's latest: an earlier append of the
// producer failed or is missing. It was not applied.
var ErrSequenceGap = errors.New("the sequence number does not follow its producer's previous one")

// A seqResult is where a batch went: count records from offset first.
type seqResult struct {
	seq   uint64
	first uint64
	count uint32
}

// A producer is what the table remembers of one producer.
type producer struct {
	id       string
	lastUsed uint64      // the Raft index of its latest batch: who is forgotten first
	recent   []seqResult // its latest batches, by sequence number, at most producerWindow
}

// producerTable is the state machine's memory of producers (see above). It is used by
// the state machine's goroutine only.
type producerTable struct {
	byID map[string]*producer
}

func newProducerTable() *producerTable {
	return &producerTable{byID: map[string]*producer{}}
}

// lookup says what to do with batch seq of producer id: if it was applied, dup is true
// and r says where it went; if it is too old to tell, err is ErrSequenceTooOld; if it
// is ordered and does not follow the producer's latest batch, err is ErrSequenceGap
// (the first batch of a producer the table does not know is never a gap); otherwise it
// is new.
func (t *producerTable) lookup(id string, seq uint64, ordered bool) (r seqResult, dup bool, err error) {
	p := t.byID[id]
	if p == nil {
		return seqResult{}, false, nil
	}
	i, found := slices.BinarySearchFunc(p.recent, seq, func(r seqResult, seq uint64) int { return cmp.Compare(r.seq, seq) })
	switch {
	case found:
		return p.recent[i], true, nil
	case i == 0 && len(p.recent) == producerWindow:
		// Older than the oldest remembered, and batches may have been forgotten.
		return seqResult{}, false, fmt.Errorf("producer %q, sequence %d (it remembers %d to %d): %w",
			id, seq, p.recent[0].seq, p.recent[len(p.recent)-1].seq, ErrSequenceTooOld)
	case ordered && len(p.recent) > 0 && seq != p.recent[len(p.recent)-1].seq+1:
		return seqResult{}, false, fmt.Errorf("producer %q, sequence %d after %d: %w",
			id, seq, p.recent[len(p.recent)-1].seq, ErrSequenceGap)
	default:
		return seqResult{}, false, nil
	}
}

// record remembers that batch r.seq of producer id was applied by the entry at index.
func (t *producerTable) record(id string, r seqResult, index uint64) {
	p := t.byID[id]
	if p == nil {
		if len(t.byID) >= maxProducers {
			t.forgetLeastRecent()
		}
		p = &producer{id: id}
		t.byID[id] = p
	}
	p.lastUsed = index
	i, _ := slices.BinarySearchFunc(p.recent, r.seq, func(r seqResult, seq uint64) int { return cmp.Compare(r.seq, seq) })
	p.recent = slices.Insert(p.recent, i, r)
	if len(p.recent) > producerWindow {
		p.recent = slices.Delete(p.recent, 0, len(p.recent)-producerWindow)
	}
}

// forgetLeastRecent forgets the producer whose latest batch is the oldest (the smallest
// ID among equals, so that every server forgets the same one).
func (t *producerTable) forgetLeastRecent() {
	var oldest *producer
	for _, p := range t.byID {
		if oldest == nil || p.lastUsed < oldest.lastUsed || p.lastUsed == oldest.lastUsed && p.id < oldest.id {
			oldest = p
		}
	}
	if oldest != nil {
		delete(t.byID, oldest.id)
	}
}

// clone returns a copy of the table that shares nothing with it.
func (t *producerTable) clone() *producerTable {
	c := &producerTable{byID: make(map[string]*producer, len(t.byID))}
	for id, p := range t.byID {
		c.byID[id] = &producer{id: p.id, lastUsed: p.lastUsed, recent: slices.Clone(p.recent)}
	}
	return c
}

// encode appends the table to b, in a form decodeProducers reads: producers in ID
// order, each with its batches. All numbers big-endian.
//
//	producers  uint32
//	  id         uint16 length, then the ID
//	  last used  uint64
//	  batches    uint16
//	    sequence, first offset (uint64 each), count (uint32)
func (t *producerTable) encode(b []byte) []byte {
	ids := make([]string, 0, len(t.byID))
	for id := range t.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		p := t.byID[id]
		b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
		b = append(b, id...)
		b = binary.BigEndian.AppendUint64(b, p.lastUsed)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.recent)))
		for _, r := range p.recent {
			b = binary.BigEndian.AppendUint64(b, r.seq)
			b = binary.BigEndian.AppendUint64(b, r.first)
			b = binary.BigEndian.AppendUint32(b, r.count)
		}
	}
	return b
}

// decodeProducers reads what encode wrote, from the front of d.
func decodeProducers(d *decoder) (*producerTable, error) {
	t := newProducerTable()
	n := d.uint32()
	for range n {
		if d.err != nil {
			break
		}
		p := &producer{id: string(d.bytes(int(d.uint16())))}
		p.lastUsed = d.uint64()
		batches := d.uint16()
		if batches > producerWindow {
			d.fail()
			break
		}
		for range batches {
			p.recent = append(p.recent, seqResult{seq: d.uint64(), first: d.uint64(), count: d.uint32()})
		}
		if !slices.IsSortedFunc(p.recent, func(a, b seqResult) int { return cmp.Compare(a.seq, b.seq) }) {
			d.fail()
		}
		t.byID[p.id] = p
	}
	if d.err != nil {
		return nil, fmt.Errorf("producer table: %w", d.err)
	}
	return t, nil
}
