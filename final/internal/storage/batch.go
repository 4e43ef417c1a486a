package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// AppendBatch appends records at consecutive offsets, in order, and returns the offset
// of the first. It does what Append does for each record, for less: the lock is taken
// once, the records are encoded straight into one buffer, and the store is written with
// one write call per segment the batch reaches (a batch that does not fit in the active
// segment rolls to a new one, as Append does). Waiters on Appended are woken once.
//
// Append's contract holds for the batch as a whole: the records are not modified; each
// keeps its TimeUnixNano and RaftIndex and gets its offset; when AppendBatch returns
// the records are in the operating system's hands, durable after Sync. A record too
// large for a segment is refused with ErrRecordTooLarge, and after Close the error is
// ErrClosed. On an error nothing has been appended: what the batch had written is cut
// off again (if that fails too, the log is closed, as after a failed TruncateFrom).
func (l *Log) AppendBatch(records []*Record) (uint64, error) {
	if len(records) == 0 {
		return 0, errors.New("log: append batch: no records")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	first := l.segments[len(l.segments)-1].next()
	if first > math.MaxUint64-uint64(len(records)) { // NextOffset would wrap around
		return 0, fmt.Errorf("append batch: %d records from offset %d would use offsets past the last", len(records), first)
	}
	w := batchWriter{l: l, frames: slices.Grow(l.batchFrames[:0], batchBytes(records))}
	defer func() {
		if cap(w.frames) <= maxRetainedFrameBuffer {
			l.batchFrames = w.frames[:0]
		}
	}()
	for i, r := range records {
		if err := w.add(r, first+uint64(i)); err != nil {
			return 0, l.undoBatch(first, fmt.Errorf("append batch: record %d of %d: %w", i+1, len(records), err))
		}
	}
	if err := w.flush(); err != nil {
		return 0, l.undoBatch(first, fmt.Errorf("append batch at offset %d: %w", first, err))
	}
	close(l.appended)
	l.appended = make(chan struct{})
	return first, nil
}

// batchBytes returns the most bytes the frames of records take, so that the buffer
// they are encoded into is allocated once.
func batchBytes(records []*Record) int {
	n := 0
	for _, r := range records {
		if r != nil {
			n += frameHeaderSize + maxRecordOverhead + len(r.Value)
		}
	}
	return n
}

// batchWriter gathers the frames of a batch for the active segment, and writes them
// when the batch ends or the segment is full.
type batchWriter struct {
	l       *Log
	frames  []byte   // encoded frames not yet written to the active segment
	starts  []uint64 // where each of them starts in frames
	scratch Record   // the record being encoded
}

// add encodes r at offset off after the frames gathered so far, first writing them and
// rolling to a new segment if it would not fit in the active one. The caller holds
// l.mu for writing.
func (w *batchWriter) add(r *Record, off uint64) error {
	if r == nil {
		return errors.New("nil record")
	}
	start := len(w.frames)
	frames, err := appendRecordAt(append(w.frames, make([]byte, frameHeaderSize)...), r, off, &w.scratch)
	if err != nil {
		return err
	}
	w.frames = frames
	size := uint64(len(frames) - start - frameHeaderSize)
	c := w.l.config
	if size > maxPayloadSize || frameHeaderSize+size > c.Segment.MaxStoreBytes {
		w.frames = w.frames[:start]
		return fmt.Errorf("the record takes %d bytes on disk, a segment holds %d: %w",
			frameHeaderSize+size, c.Segment.MaxStoreBytes, ErrRecordTooLarge)
	}
	frame := w.frames[start:]
	binary.BigEndian.PutUint32(frame, uint32(size))
	binary.BigEndian.PutUint32(frame[frameLengthSize:], frameChecksum(frame[:frameLengthSize], frame[frameHeaderSize:]))

	active := w.l.segments[len(w.l.segments)-1]
	pendingBytes, pending := uint64(start), uint64(len(w.starts))
	fits := active.store.size+pendingBytes+frameHeaderSize+size <= c.Segment.MaxStoreBytes &&
		active.index.len()+pending < min(c.maxEntries(), active.index.cap())
	if !fits {
		frame = slices.Clone(frame)
		w.frames = w.frames[:start]
		if err := w.flush(); err != nil {
			return err
		}
		if _, err := w.l.roll(); err != nil {
			return err
		}
		w.frames = append(w.frames, frame...)
		start = 0
	}
	w.starts = append(w.starts, uint64(start))
	return nil
}

// flush writes the gathered frames to the active segment. The caller holds l.mu for
// writing.
func (w *batchWriter) flush() error {
	if len(w.starts) == 0 {
		return nil
	}
	if err := w.l.segments[len(w.l.segments)-1].appendFrames(w.frames, w.starts); err != nil {
		return err
	}
	w.frames, w.starts = w.frames[:0], w.starts[:0]
	return nil
}

// undoBatch cuts off what a failed AppendBatch wrote from offset first on, and returns
// err, with the cut's error if that fails too (the log is then closed). The caller
// holds l.mu for writing.
func (l *Log) undoBatch(first uint64, err error) error {
	_, next := l.bounds()
	if first >= next {
		return err
	}
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].next() > first })
	if cutErr := l.truncateFromLocked(i, first); cutErr != nil {
		return errors.Join(err, fmt.Errorf("cut the partial batch off log %s, which is now closed: %w",
			l.dir, errors.Join(cutErr, l.closeLocked())))
	}
	return err
}

// ReadBatch returns records from offset off on, in order, at consecutive offsets: at
// least the one at off and at most maxRecords, all from the segment that holds off,
// read from its store with one read call of at most about maxBytes (more when the
// record at off alone is larger). A reader going through the log reads it this way
// at a fraction of the cost of one Read per record. The caller owns the records.
//
// Its errors are Read's, for the record at off: ErrOffsetOutOfRange when the log does
// not hold it, an error wrapping ErrCorrupt for a damaged record (one among the others
// too), ErrClosed after Close.
func (l *Log) ReadBatch(off uint64, maxRecords int, maxBytes uint64) ([]*Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	lowest, next := l.bounds()
	if off < lowest || off >= next {
		return nil, ErrOffsetOutOfRange{Offset: off, Lowest: lowest, Next: next}
	}
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].next() > off })
	s := l.segments[i]
	payloads, err := s.readRun(off, uint64(max(maxRecords, 1)), maxBytes)
	if err != nil {
		return nil, fmt.Errorf("read from offset %d in segment %d: %w", off, s.base, err)
	}
	records := make([]*Record, len(payloads))
	for j, p := range payloads {
		at := off + uint64(j)
		r, err := unmarshalRecord(p)
		if err != nil {
			return nil, fmt.Errorf("read offset %d in segment %d: %w: %w", at, s.base, ErrCorrupt, err)
		}
		if r.Offset != at {
			return nil, fmt.Errorf("read offset %d in segment %d: the record there has offset %d: %w",
				at, s.base, r.Offset, ErrCorrupt)
		}
		records[j] = r
	}
	return records, nil
}
