package consensus

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"golog/internal/storage"
)

// fsm is the replicated state machine: the data log that clients read, the offsets it
// holds, and the producer table. Raft hands it every committed command, in the same
// order on every server, so every server's data log holds the same records at the same
// offsets (Raft paper §5.3, "state machine safety").
//
// # The data log is kept across restarts
//
// Raft does not remember what the state machine has applied: on start it restores the
// newest snapshot and applies every committed entry after it again. The data log is
// kept on disk all the same, and those entries are recognised instead of appended a
// second time: every record carries the Raft index of the entry that wrote it, and the
// fsm's own position (next, the offset the next record gets) says where each entry's
// records are. So Apply of an entry whose records the data log already holds, as the
// record at next shows, only moves next on. A restart costs the entries since the last
// snapshot, never the whole log.
//
// The data log is not synced on every append: the Raft log is what is durable. After a
// power loss the data log may have lost its newest records, or hold some of an entry's
// records but not all. Apply then writes them again: it cuts the data log at next and
// appends. It never has to go further back: a snapshot syncs the data log before it is
// complete, and raft replays every entry after the newest snapshot.
//
// # Snapshots
//
// Snapshot pins the data log's segments and notes the state (see snapshot.go); Persist,
// which raft runs while Apply goes on, syncs the data log and hard-links the pinned
// files into the snapshot. Restore, when raft starts from a snapshot or installs one
// from the leader, keeps the data log if it already holds the snapshot's records (it
// always does after a restart), and replaces it with the snapshot's files otherwise.
//
// # Failures
//
// Every server must apply every command the same way. A command that cannot be
// decoded, and a batch the producer table refuses, fail the same way everywhere, so
// Apply returns an error for it and goes on. A data log that fails to append (a full
// disk) fails on one server only: its records would shift to other offsets than the
// other servers'. The fsm then stops: Apply, Snapshot and reads fail from then on, until
// a Restore succeeds or the server restarts.
type fsm struct {
	data    *storage.Log
	dir     string // where Restore unpacks a snapshot that is not in a SnapshotStore
	logger  *slog.Logger
	onApply func() // called after every Apply and Restore, on the fsm's goroutine

	// Written on raft's fsm goroutine only; read anywhere.
	next       atomic.Uint64 // the offset the next record gets
	lowest     atomic.Uint64 // the lowest offset a read may ask for (retention)
	applied    atomic.Uint64 // the Raft index of the last command applied, or restored
	restoring  atomic.Bool   // set while Restore replaces the data log
	producers  *producerTable
	lastRecord uint64 // the Raft index of the record at next-1, 0 if there is none

	mu     sync.Mutex
	failed error // guarded by mu; set when the data log may differ from the others'
}

// newFSM returns the state machine of the data log data, as it is before any entry is
// applied and any snapshot restored.
// The first record of the log gets offset 0; next and lowest start there whatever the
// data log holds, since raft applies every entry from the first (or from the snapshot,
// which sets them).
func newFSM(data *storage.Log, dir string, logger *slog.Logger, onApply func()) *fsm {
	return &fsm{data: data, dir: dir, logger: logger, onApply: onApply, producers: newProducerTable()}
}

var (
	_ raft.FSM         = (*fsm)(nil)
	_ raft.BatchingFSM = (*fsm)(nil)
)

// err returns the error that stopped the fsm, or nil.
func (f *fsm) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// stop records what stopped the fsm.
func (f *fsm) stop(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = err
	return err
}

// appliedIndex returns the Raft index of the last command applied.
func (f *fsm) appliedIndex() uint64 { return f.applied.Load() }

// An appendResult is what Apply returns for one batch of an appendCommand: where its
// records are (count records from offset first), and whether the batch had been
// applied before (duplicate), or the error that refused it.
type appendResult struct {
	first     uint64
	count     uint32
	duplicate bool
	err       error
}

// Apply runs one committed entry; see ApplyBatch.
func (f *fsm) Apply(entry *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{entry})[0]
}

// ApplyBatch runs committed entries, in order. For an appendCommand the response is a
// []appendResult, one per batch; for a truncateCommand nil; for an entry that cannot be
// applied, an error. Raft hands each response to the Apply that proposed the entry.
func (f *fsm) ApplyBatch(entries []*raft.Log) []any {
	responses := make([]any, len(entries))
	for i, entry := range entries {
		responses[i] = f.apply(entry)
		f.applied.Store(entry.Index)
	}
	f.onApply()
	return responses
}

// apply runs one entry.
func (f *fsm) apply(entry *raft.Log) any {
	if err := f.err(); err != nil {
		return err
	}
	if entry.Type != raft.LogCommand {
		return nil // a configuration change: nothing to do
	}
	typ, err := commandOf(entry.Data)
	if err != nil {
		return fmt.Errorf("raft entry %d: %w", entry.Index, err)
	}
	switch typ {
	case appendCommand:
		cmd, err := decodeAppend(entry.Data)
		if err != nil {
			return fmt.Errorf("raft entry %d: %w", entry.Index, err)
		}
		return f.applyAppend(entry.Index, cmd)
	case truncateCommand:
		lowest, err := decodeTruncate(entry.Data)
		if err != nil {
			return fmt.Errorf("raft entry %d: %w", entry.Index, err)
		}
		return f.applyTruncate(lowest)
	default:
		return fmt.Errorf("raft entry %d: unknown command type %d", entry.Index, typ)
	}
}

// applyAppend appends the batches of cmd, which the entry at index holds, skipping
// those the producer table has seen.
func (f *fsm) applyAppend(index uint64, cmd appendCmd) any {
	results := make([]appendResult, len(cmd.batches))
	var records []*storage.Record
	for i, b := range cmd.batches {
		if b.producer != "" {
			prev, dup, err := f.producers.lookup(b.producer, b.sequence, b.ordered)
			if err != nil {
				results[i] = appendResult{err: err}
				continue
			}
			if dup {
				results[i] = appendResult{first: prev.first, count: prev.count, duplicate: true}
				continue
			}
		}
		first := f.next.Load() + uint64(len(records))
		results[i] = appendResult{first: first, count: uint32(len(b.values))}
		for _, v := range b.values {
			records = append(records, &storage.Record{Value: v, TimeUnixNano: cmd.time, RaftIndex: index})
		}
		if b.producer != "" {
			f.producers.record(b.producer, seqResult{seq: b.sequence, first: first, count: uint32(len(b.values))}, index)
		}
	}
	if err := f.write(index, records); err != nil {
		return f.stop(fmt.Errorf("data log stopped at raft entry %d, restart the server: %w", index, err))
	}
	return results
}

// write puts the records of the entry at index into the data log at next, unless it
// holds them already (see fsm), and moves next past them.
func (f *fsm) write(index uint64, records []*storage.Record) error {
	if len(records) == 0 {
		return nil
	}
	next := f.next.Load()
	held, err := f.holds(next, index, len(records))
	if err != nil {
		return err
	}
	if !held {
		if err := f.data.TruncateFrom(next); err != nil { // a partial entry, or nothing
			return err
		}
		// One write for the entry's records, not one per record.
		first, err := f.data.AppendBatch(records)
		if err != nil {
			return err
		}
		if first != next {
			return fmt.Errorf("the records of raft entry %d went to offset %d, not %d", index, first, next)
		}
	}
	f.next.Store(next + uint64(len(records)))
	f.lastRecord = index
	return nil
}

// holds reports whether the data log already holds the n records of the entry at index
// from offset next: the log reaches past them, and the record at next was written by
// that entry (records below the data log's lowest offset were removed since, by a later
// entry).
func (f *fsm) holds(next, index uint64, n int) (bool, error) {
	end := f.data.NextOffset()
	if next+uint64(n) > end {
		if next > end {
			return false, fmt.Errorf("the data log ends at offset %d, before the %d where raft entry %d goes",
				end, next, index)
		}
		return false, nil
	}
	if next < f.data.LowestOffset() {
		return true, nil
	}
	r, err := f.data.Read(next)
	if err != nil {
		return false, err
	}
	if r.RaftIndex != index {
		f.logger.Warn("the data log holds other records than raft entry says: writing them again",
			"offset", next, "raft_index", index, "found_raft_index", r.RaftIndex)
		return false, nil
	}
	return true, nil
}

// applyTruncate removes the records below lowest (retention): reads below it fail from
// now on, and the data log drops the segments that hold nothing at or above it.
func (f *fsm) applyTruncate(lowest uint64) any {
	lowest = min(lowest, f.next.Load())
	if lowest <= f.lowest.Load() {
		return nil
	}
	f.lowest.Store(lowest)
	if err := f.data.Truncate(lowest); err != nil {
		f.logger.Warn("retention: remove old segments", "err", err)
	}
	return nil
}

// Snapshot pins the data log and notes the state. It does no I/O. raft calls it on the
// goroutine that calls Apply, so the state and the pinned files agree.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	pin, err := f.data.Pin()
	if err != nil {
		return nil, err
	}
	m := &manifest{
		applied:    f.appliedIndex(),
		next:       f.next.Load(),
		lowest:     f.lowest.Load(),
		lastRecord: f.lastRecord,
		producers:  f.producers.clone(),
	}
	// The files may hold records beyond next, while entries are applied again after a
	// restart: they are committed records all the same, and Apply recognises them.
	m.segments = pin.Files()
	return &fsmSnapshot{manifest: m, pin: pin, data: f.data}, nil
}

// fsmSnapshot is a snapshot of the state machine, not yet written.
type fsmSnapshot struct {
	manifest *manifest
	pin      *storage.Pin
	data     *storage.Log
}

var _ raft.FSMSnapshot = (*fsmSnapshot)(nil)

// Persist syncs the data log, so that the snapshot's records are on disk, and writes
// the snapshot to sink: links the pinned files into it if it is a SnapshotStore's, and
// writes the stream otherwise. It closes the sink, or cancels it on error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	err := s.data.Sync()
	if err == nil {
		if k, ok := sink.(*snapshotSink); ok {
			err = k.linkSegments(s.manifest, s.pin)
		} else {
			err = s.writeStream(sink)
		}
	}
	if err != nil {
		return errors.Join(fmt.Errorf("persist snapshot: %w", err), sink.Cancel())
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return nil
}

// writeStream writes the snapshot's stream (see snapshot.go) to w.
func (s *fsmSnapshot) writeStream(w io.Writer) error {
	if _, err := w.Write(streamHeader(s.manifest.encode())); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "golog-snapshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := s.pin.Link(dir); err != nil {
		return err
	}
	for _, seg := range s.manifest.segments {
		file, err := os.Open(filepath.Join(dir, seg.Name()))
		if err != nil {
			return err
		}
		_, err = io.Copy(w, io.NewSectionReader(file, 0, int64(seg.Size)))
		if err = errors.Join(err, file.Close()); err != nil {
			return err
		}
	}
	return nil
}

// Release gives the pinned segments back.
func (s *fsmSnapshot) Release() {
	_ = s.pin.Release()
}

// Restore makes the state machine the snapshot read from rc: its state, and its
// records, which the data log keeps if it holds them already and otherwise takes from
// the snapshot's files. If it fails, the fsm is stopped (see fsm) until a Restore
// succeeds.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.restoring.Store(true)
	defer f.restoring.Store(false)
	err := f.restore(rc)
	if err != nil {
		err = fmt.Errorf("restore snapshot: %w", err)
	}
	f.mu.Lock()
	f.failed = err
	f.mu.Unlock()
	f.onApply()
	return err
}

func (f *fsm) restore(rc io.Reader) error {
	var m *manifest
	var paths []string
	if r, ok := rc.(*snapshotReader); ok {
		m, paths = r.manifest, r.paths()
	} else {
		var err error
		if m, paths, err = f.unpack(rc); err != nil {
			return err
		}
	}
	keep, err := f.holdsSnapshot(m)
	if err != nil {
		return err
	}
	if keep {
		f.logger.Debug("restore: the data log holds the snapshot's records already", "offset", m.next)
		if err := f.data.Truncate(m.lowest); err != nil {
			return err
		}
	} else {
		f.logger.Info("restore: replacing the data log with the snapshot's", "segments", len(m.segments),
			"lowest", m.lowest, "offset", m.next)
		if err := f.data.ReplaceWith(m.segments, paths); err != nil {
			return err
		}
	}
	f.next.Store(m.next)
	f.lowest.Store(m.lowest)
	f.lastRecord = m.lastRecord
	f.producers = m.producers
	f.applied.Store(m.applied)
	return nil
}

// holdsSnapshot reports whether the data log holds the records of the snapshot m:
// offsets [m.lowest, m.next), the last one written by the same Raft entry.
func (f *fsm) holdsSnapshot(m *manifest) (bool, error) {
	if f.data.LowestOffset() > m.lowest || f.data.NextOffset() < m.next {
		return false, nil
	}
	if m.next == m.lowest {
		return true, nil
	}
	r, err := f.data.Read(m.next - 1)
	if errors.Is(err, storage.ErrCorrupt) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return r.RaftIndex == m.lastRecord, nil
}

// unpack reads a snapshot stream that does not come from a SnapshotStore into a
// directory of its own, and returns its manifest and where its files are.
func (f *fsm) unpack(r io.Reader) (*manifest, []string, error) {
	m, err := readManifest(r)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(f.dir, "restore")
	if err := os.RemoveAll(dir); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if err := writeSegments(r, m, dir); err != nil {
		return nil, nil, err
	}
	paths := make([]string, len(m.segments))
	for i, s := range m.segments {
		paths[i] = filepath.Join(dir, s.Name())
	}
	return m, paths, nil
}
