package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"golog/internal/storage"
)

// LogStore is raft's raft.LogStore built on a Log: Raft's log of commands, kept in the
// same segmented files as the records themselves.
//
// The entry at Raft index i is the record at offset i (a new store starts at offset 1,
// as Raft's indexes do). Its Value is the entry encoded as below; nothing else reads it.
//
//	byte    size  field
//	0       1     version: logEntryVersion
//	1       1     type: raft.LogType
//	2       8     index
//	10      8     term
//	18      8     appended at: Unix seconds, signed  } both 0 for the zero time.Time
//	26      4     appended at: nanoseconds           }
//	30      4     data length n
//	34      n     data
//	34+n    4     extensions length m
//	38+n    m     extensions
//
// All numbers are big-endian. The index is stored too, so that reading an entry at the
// wrong offset is caught.
//
// # The contract raft relies on
//
//   - FirstIndex and LastIndex return 0 when the store is empty.
//   - GetLog of an index the store does not hold returns exactly raft.ErrLogNotFound:
//     the leader compares with ==, and only that error makes it send a snapshot to a
//     follower that is too far behind (Raft paper §7).
//   - StoreLogs returns only once the entries are on disk (Log.Sync): a follower
//     acknowledges entries, and the leader counts itself toward a commit, as soon as
//     StoreLogs returns (§5.3).
//   - DeleteRange removes a prefix after a snapshot (compaction, §7) or a suffix that
//     conflicts with the leader's log (§5.3, "delete the existing entry and all that
//     follow it"), or everything.
//
// # Indexes are dense
//
// Offsets in a Log are dense, so the store cannot hold a gap between two entries. It
// says so to raft with IsMonotonic (raft.MonotonicLogStore): raft then deletes every
// entry after installing a snapshot instead of leaving a gap, and the next StoreLogs
// on the empty store may start at any index. StoreLogs at any other index than
// LastIndex+1 is an error; raft deletes a conflicting suffix with DeleteRange before it
// writes over it.
//
// # Compaction inside a segment
//
// A Log removes only whole segments (Truncate). When raft compacts up to an index in
// the middle of a segment, the entries below it stay in the file but are gone for raft:
// the first index kept is written to the file firstIndexFile, and FirstIndex, GetLog
// and DeleteRange go by it. That file is all that keeps compacted entries hidden, so it
// is checked like a record: it is one frame of a store file (see the package
// documentation), whose payload is a version byte and the index:
//
//	byte  size  field
//	0     4     length of the payload: 9
//	4     4     CRC-32C (Castagnoli) of the length field followed by the payload
//	8     1     version: firstIndexVersion
//	9     8     first index
//
// All numbers are big-endian. The file is replaced atomically (write, fsync, rename,
// fsync of the directory), so a crash leaves the old file or the new one. NewLogStore
// refuses with an error wrapping storage.ErrCorrupt a file that is not exactly such a frame, or
// whose index lies past the end of a log that holds records. A missing file, or an
// index below the log's lowest offset, means the log's lowest offset: nothing is
// hidden then. An index past the end of an empty log is what a crash can leave in the
// middle of a restart at another index; the file is removed then (see restartAt).
//
// A LogStore is safe for concurrent use. Changes (StoreLogs, DeleteRange) hold a lock
// for writing, reads (FirstIndex, LastIndex, GetLog) for reading, so a read never sees
// half a change.
type LogStore struct {
	dir string

	// mu guards log and first. The Log has its own lock; mu makes a change to both the
	// Log and first one step for readers.
	mu  sync.RWMutex
	log *storage.Log
	// first is the lowest index raft may read. The store holds [first, log.NextOffset());
	// it is empty when first == log.NextOffset(). log.LowestOffset() <= first always.
	first uint64

	// afterStep, when not nil, is told of each change to the files (see
	// storage.Log.SetAfterStep); only tests set it.
	afterStep func(done string)

	// noSync, set before the store is used, makes StoreLogs return without flushing the
	// entries to disk (Durability SyncNever).
	noSync bool
}

var (
	_ raft.LogStore          = (*LogStore)(nil)
	_ raft.MonotonicLogStore = (*LogStore)(nil)
)

// logEntryVersion is the first byte of every encoded entry, so the format can change.
const logEntryVersion = 1

// logEntryHeaderSize is the size of an encoded entry without its data and extensions.
const logEntryHeaderSize = 1 + 1 + 8 + 8 + 8 + 4 + 4 + 4

// firstIndexFile holds the lowest index raft may read when compaction ended in the
// middle of a segment, in the format shown at LogStore.
const (
	firstIndexFile        = "first-index"
	firstIndexVersion     = 1
	firstIndexPayloadSize = 1 + 8
)

// NewLogStore opens the Raft log store in dir, creating it if needed. c configures
// the segments; c.Segment.InitialOffset is ignored: a new store starts at index 1.
func NewLogStore(dir string, c storage.Config) (*LogStore, error) {
	c.Segment.InitialOffset = 1
	l, err := storage.NewLog(dir, c)
	if err != nil {
		return nil, fmt.Errorf("open raft log store: %w", err)
	}
	first, err := loadFirstIndex(dir, l.LowestOffset(), l.NextOffset())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open raft log store %s: %w", dir, err), l.Close())
	}
	return &LogStore{dir: dir, log: l, first: first}, nil
}

// loadFirstIndex returns the first index of a store whose log holds [lowest, next), as
// dir's firstIndexFile says (see LogStore).
func loadFirstIndex(dir string, lowest, next uint64) (uint64, error) {
	index, found, err := readFirstIndex(dir)
	switch {
	case err != nil:
		return 0, err
	case !found:
		return lowest, nil // nothing was ever compacted inside a segment
	case index <= next:
		// Below lowest, it hides nothing: a crash can leave it so in the middle of a
		// restart at a higher index (see restartAt).
		return max(index, lowest), nil
	case lowest < next:
		return 0, fmt.Errorf("%s: first index %d is past the end of the log, which holds %d to %d: %w",
			firstIndexFile, index, lowest, next-1, storage.ErrCorrupt)
	default:
		// Past the end of an empty log: a restart at another index was cut short by a
		// crash after it had removed the old segments (see restartAt). The store is
		// empty; do the restart's last step, so that the file cannot hide entries
		// stored from next on.
		return next, removeFirstIndex(dir)
	}
}

// FirstIndex returns the index of the oldest entry, or 0 if the store is empty.
func (s *LogStore) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.first == s.log.NextOffset() {
		return 0, nil
	}
	return s.first, nil
}

// LastIndex returns the index of the newest entry, or 0 if the store is empty.
func (s *LogStore) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	next := s.log.NextOffset()
	if s.first == next {
		return 0, nil
	}
	return next - 1, nil
}

// GetLog reads the entry at index into out. It returns raft.ErrLogNotFound itself (not
// wrapped) when the store does not hold index, and an error wrapping storage.ErrCorrupt when
// the entry on disk does not decode.
func (s *LogStore) GetLog(index uint64, out *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if index < s.first || index >= s.log.NextOffset() {
		return raft.ErrLogNotFound
	}
	r, err := s.log.Read(index)
	if err != nil {
		return fmt.Errorf("raft log store: get index %d: %w", index, err)
	}
	if err := decodeLogEntry(r.Value, out); err != nil {
		return fmt.Errorf("raft log store: get index %d: %w", index, err)
	}
	if out.Index != index {
		return fmt.Errorf("raft log store: get index %d: the entry there has index %d: %w", index, out.Index, storage.ErrCorrupt)
	}
	return nil
}

// StoreLog stores one entry; see StoreLogs.
func (s *LogStore) StoreLog(entry *raft.Log) error {
	return s.StoreLogs([]*raft.Log{entry})
}

// StoreLogs appends entries, whose indexes must follow each other and start at
// LastIndex+1 (on an empty store: anywhere from 1 on), and syncs them to disk before it
// returns. It is all or nothing: on error, none of the entries is stored.
func (s *LogStore) StoreLogs(entries []*raft.Log) error {
	if len(entries) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	start := entries[0].Index
	next := s.log.NextOffset()
	if start == 0 {
		return errors.New("raft log store: store index 0: Raft indexes start at 1")
	}
	if s.first == next && start != next {
		// Empty, and raft starts elsewhere: after a snapshot was installed or restored
		// (see "Indexes are dense").
		if err := s.restartAt(start); err != nil {
			return err
		}
	} else if start != next {
		return fmt.Errorf("raft log store: store index %d, but the next index is %d "+
			"(a conflicting suffix must be removed with DeleteRange first)", start, next)
	}

	records := make([]*storage.Record, len(entries))
	for i, entry := range entries {
		if entry.Index != start+uint64(i) {
			return fmt.Errorf("raft log store: entries not in sequence: index %d follows %d", entry.Index, start+uint64(i)-1)
		}
		records[i] = &storage.Record{Value: encodeLogEntry(entry)}
	}
	// One write for all the entries (AppendBatch), then one flush (group commit: Raft
	// hands over every entry that arrived while the previous flush ran).
	off, err := s.log.AppendBatch(records)
	if err != nil {
		return errors.Join(fmt.Errorf("raft log store: store indexes %d to %d: %w", start, start+uint64(len(entries))-1, err),
			s.undo(start))
	}
	if off != start { // cannot happen while the checks above hold
		return errors.Join(fmt.Errorf("raft log store: index %d was stored at offset %d", start, off), s.undo(start))
	}
	if s.noSync {
		return nil
	}
	if err := s.log.Sync(); err != nil {
		return errors.Join(fmt.Errorf("raft log store: sync: %w", err), s.undo(start))
	}
	return nil
}

// undo removes what a failed StoreLogs appended from index start on, so that the store
// is as it was. The caller holds s.mu for writing.
func (s *LogStore) undo(start uint64) error {
	if err := s.log.TruncateFrom(start); err != nil {
		return fmt.Errorf("raft log store: remove a partly stored batch: %w", err)
	}
	return nil
}

// restartAt replaces the empty log with a new one whose first index is index. The
// caller holds s.mu for writing.
//
// The store is empty, but its files may still hold entries below s.first that raft
// compacted away: only firstIndexFile hides them, so it must outlive them. Each step is
// durable before the next one starts, and a crash between any two leaves a store that
// opens empty:
//
//  1. The log removes its segments, oldest first (Log.restartAt). A crash leaves the
//     newest ones; they still end at s.first, and the file hides all they hold. Once
//     none is left, there is nothing to hide.
//  2. The log creates its segment at index: an empty log.
//  3. The file is removed. Left in place, it would say nothing true of the new log, and
//     could hide the entries stored next. A crash after step 1 leaves it with an empty
//     log: NewLogStore then finishes this step, if the file points past the log's end
//     (an index at or below the log's start hides nothing).
//
// Removing the directory in one go (os.RemoveAll) would not do: it deletes files in the
// order the directory lists them, and when that puts firstIndexFile first, a crash
// brings the compacted entries back.
func (s *LogStore) restartAt(index uint64) error {
	if err := s.log.RestartAt(index); err != nil {
		return fmt.Errorf("raft log store: restart at index %d: %w", index, err)
	}
	s.first = index
	if err := removeFirstIndex(s.dir); err != nil {
		// What the file says is now unknown: stop, as the log does when it fails.
		return fmt.Errorf("raft log store: restart at index %d: remove %s: %w",
			index, firstIndexFile, errors.Join(err, s.log.Close()))
	}
	if s.afterStep != nil {
		s.afterStep("removed " + firstIndexFile)
	}
	return nil
}

// DeleteRange removes the entries from index from to index to, both included. The range
// must reach one end of the store: [FirstIndex, n] drops the oldest entries
// (compaction), [n, LastIndex] the newest (a conflicting suffix), and both at once
// everything. Indexes the store does not hold are ignored. A range strictly inside the
// store would leave a gap, which raft never asks for, and is an error.
func (s *LogStore) DeleteRange(from, to uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	next := s.log.NextOffset()
	if s.first == next {
		return nil // empty
	}
	// The part of [from, to] the store holds.
	lo, hi := max(from, s.first), min(to, next-1)
	if lo > hi {
		return nil // nothing stored in the range
	}
	switch {
	case hi == next-1: // the newest entries, maybe all of them
		if err := s.log.TruncateFrom(lo); err != nil {
			return fmt.Errorf("raft log store: delete indexes %d to %d: %w", lo, hi, err)
		}
		// If lo == first the store is now empty: first == next.
		return nil
	case lo == s.first: // the oldest entries
		// first goes to disk before any file is removed: a crash in between leaves
		// entries that raft no longer sees, never entries it thinks are gone but reads.
		if err := writeFirstIndex(s.dir, hi+1); err != nil {
			return fmt.Errorf("raft log store: delete indexes %d to %d: %w", lo, hi, err)
		}
		s.first = hi + 1
		if err := s.log.Truncate(hi + 1); err != nil {
			return fmt.Errorf("raft log store: delete indexes %d to %d: remove old segments: %w", lo, hi, err)
		}
		return nil
	default:
		return fmt.Errorf("raft log store: delete indexes %d to %d would leave a gap: the store holds %d to %d",
			lo, hi, s.first, next-1)
	}
}

// IsMonotonic reports that the store cannot hold gaps between indexes (see LogStore).
func (s *LogStore) IsMonotonic() bool { return true }

// Close closes the store's log. It is idempotent.
func (s *LogStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Close()
}

// encodeLogEntry encodes a raft.Log as a record's value, in the format shown at
// LogStore.
func encodeLogEntry(entry *raft.Log) []byte {
	b := make([]byte, 0, logEntryHeaderSize+len(entry.Data)+len(entry.Extensions))
	b = append(b, logEntryVersion, byte(entry.Type))
	b = binary.BigEndian.AppendUint64(b, entry.Index)
	b = binary.BigEndian.AppendUint64(b, entry.Term)
	var sec int64
	var nsec uint32
	if !entry.AppendedAt.IsZero() {
		sec, nsec = entry.AppendedAt.Unix(), uint32(entry.AppendedAt.Nanosecond())
	}
	b = binary.BigEndian.AppendUint64(b, uint64(sec))
	b = binary.BigEndian.AppendUint32(b, nsec)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entry.Data)))
	b = append(b, entry.Data...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entry.Extensions)))
	b = append(b, entry.Extensions...)
	return b
}

// decodeLogEntry decodes what encodeLogEntry wrote into out. out does not share memory
// with b. Anything malformed is an error wrapping storage.ErrCorrupt.
func decodeLogEntry(b []byte, out *raft.Log) error {
	corrupt := func(what string) error {
		return fmt.Errorf("raft log entry of %d bytes: %s: %w", len(b), what, storage.ErrCorrupt)
	}
	if len(b) < logEntryHeaderSize {
		return corrupt("shorter than its header")
	}
	if b[0] != logEntryVersion {
		return corrupt(fmt.Sprintf("unknown version %d", b[0]))
	}
	e := raft.Log{
		Type:  raft.LogType(b[1]),
		Index: binary.BigEndian.Uint64(b[2:]),
		Term:  binary.BigEndian.Uint64(b[10:]),
	}
	sec, nsec := int64(binary.BigEndian.Uint64(b[18:])), binary.BigEndian.Uint32(b[26:])
	if sec != 0 || nsec != 0 {
		e.AppendedAt = time.Unix(sec, int64(nsec)).UTC()
	}
	rest := b[30:]
	var ok bool
	if e.Data, rest, ok = cutField(rest); !ok {
		return corrupt("data longer than the entry")
	}
	if e.Extensions, rest, ok = cutField(rest); !ok {
		return corrupt("extensions longer than the entry")
	}
	if len(rest) != 0 {
		return corrupt(fmt.Sprintf("%d bytes after the extensions", len(rest)))
	}
	*out = e
	return nil
}

// cutField splits a 4-byte length and that many bytes off the front of b, and returns
// a copy of those bytes (nil when there are none) and the rest.
func cutField(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := uint64(binary.BigEndian.Uint32(b))
	b = b[4:]
	if n > uint64(len(b)) {
		return nil, nil, false
	}
	if n > 0 {
		field = append([]byte(nil), b[:n]...)
	}
	return field, b[n:], true
}

// readFirstIndex returns the index in dir's firstIndexFile; found is false if there is
// no such file. A file that is not what writeFirstIndex writes is an error wrapping
// storage.ErrCorrupt.
func readFirstIndex(dir string) (index uint64, found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, firstIndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	payload, ok := storage.DecodeFrame(b)
	if !ok || len(payload) != firstIndexPayloadSize {
		return 0, false, fmt.Errorf("%s: %d bytes that are not a first index: %w", firstIndexFile, len(b), storage.ErrCorrupt)
	}
	if payload[0] != firstIndexVersion {
		return 0, false, fmt.Errorf("%s: unknown version %d: %w", firstIndexFile, payload[0], storage.ErrCorrupt)
	}
	return binary.BigEndian.Uint64(payload[1:]), true, nil
}

// encodeFirstIndex returns the content of a firstIndexFile holding index.
func encodeFirstIndex(index uint64) []byte {
	return storage.EncodeFrame(binary.BigEndian.AppendUint64([]byte{firstIndexVersion}, index))
}

// writeFirstIndex replaces dir's firstIndexFile with one holding index, durably and
// atomically: a crash leaves the old file or the new one, never a mix.
func writeFirstIndex(dir string, index uint64) error {
	path := filepath.Join(dir, firstIndexFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(encodeFirstIndex(index))
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return storage.SyncDir(dir)
}

// removeFirstIndex removes dir's firstIndexFile, if there is one, durably.
func removeFirstIndex(dir string) error {
	err := os.Remove(filepath.Join(dir, firstIndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return storage.SyncDir(dir)
}
