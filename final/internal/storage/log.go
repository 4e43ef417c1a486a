package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// A Log is an append-only sequence of records stored in a directory, one segment after
// the other. See the package documentation for the layout and the guarantees.
//
// All methods are safe for concurrent use.
type Log struct {
	dir    string
	config Config // with defaults applied

	// mu guards every field below, and the segments: their files, mappings and sizes.
	// Append, Truncate, Reset, Close and Remove hold it for writing; Read, Reader, Sync
	// and the getters hold it for reading, so reads run in parallel with each other but
	// not with an append. Segment, store and index have no locks of their own.
	mu       sync.RWMutex
	segments []*segment    // in offset order; the last one is the active segment
	appended chan struct{} // closed and replaced by every successful Append
	lock     *os.File      // the directory's LOCK file, flock'ed while the log is open
	closed   bool

	// syncMu serialises Syncs, which hold mu only for reading. What a Sync changes,
	// dirUnsynced and each segment's unsynced flag, is guarded by mu held for writing, or
	// by mu held for reading together with syncMu. Lock order: mu, then syncMu.
	syncMu      sync.Mutex
	dirUnsynced bool   // segment files were created since the last Sync
	batchFrames []byte // AppendBatch's buffer, kept between calls; guarded by mu

	// afterStep, when not nil, is called after each change to the files that
	// TruncateFrom and RestartAt make, with what was done: a test copies the directory
	// there to see what a crash at that moment leaves. Only tests set it, before they
	// use the log.
	afterStep func(done string)
}

// NewLog opens the log stored in dir, creating dir and an empty log if needed.
//
// Opening checks every record on disk and repairs what a crash can leave behind: each
// index is rebuilt from its store, and a torn tail (writes cut short, with no intact
// record after them) is removed. Damage followed by intact records is not repaired:
// NewLog returns an error wrapping ErrCorrupt and changes no file. A directory another Log has open gives an error wrapping ErrInUse.
// Files in dir that are not segment files are left alone.
func NewLog(dir string, c Config) (*Log, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l := &Log{dir: dir, config: c, lock: lock, appended: make(chan struct{})}
	if err := removeRetired(dir); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, errors.Join(err, unlockDir(lock)))
	}
	if err := l.load(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, errors.Join(err, unlockDir(lock)))
	}
	lowest, next := l.bounds()
	c.Logger.Debug("log opened", "dir", dir, "segments", len(l.segments), "lowest", lowest, "offset", next)
	return l, nil
}

// load opens the segments found in the directory, or creates the first one.
//
// The intact part of the log runs from the first frame up to the first damaged frame,
// or up to a segment that does not start where the one before it ends. What follows is
// the tail. If the tail holds no intact frame, it is what a crash leaves behind, a torn
// tail, and it is removed: the damaged segment is cut and the segments after it, which
// hold nothing, are deleted. If the tail holds an intact frame, load refuses with
// ErrCorrupt rather than drop records.
//
// It works in two passes so that a corrupt log is refused before any file is changed:
// first every store is scanned, read-only; then the tail is removed and the indexes are
// rebuilt. A sealed segment whose files agree (checkSealed) is not scanned: that keeps
// opening a large log fast.
func (l *Log) load() (err error) {
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		s, err := newSegment(l.dir, l.config.Segment.InitialOffset, l.config.maxEntries(), l.config.Disk)
		if err != nil {
			return fmt.Errorf("create segment %d: %w", l.config.Segment.InitialOffset, err)
		}
		l.segments = []*segment{s}
		l.dirUnsynced = true
		return nil
	}

	stores := make([]*store, 0, len(bases))
	defer func() {
		if err != nil { // close what is open: the segments, and the stores not in one yet
			for _, s := range l.segments {
				err = errors.Join(err, s.close())
			}
			for _, st := range stores[len(l.segments):] {
				if st != nil { // nil: closed by removeTornSegment
					err = errors.Join(err, st.close())
				}
			}
			l.segments = nil
		}
	}()

	// Pass 1: scan, and find where the intact part ends.
	scans := make([]scanResult, len(bases))
	last := len(bases) - 1 // the last segment of the intact part
	var tailStart string   // where the tail starts, for messages
	for i, base := range bases {
		name := segmentName(base, storeSuffix)
		st, err := openStore(filepath.Join(l.dir, name))
		if err != nil {
			return err
		}
		stores = append(stores, st)
		if scans[i], err = l.check(base, st, i == len(bases)-1); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		records := scans[i].records()
		switch {
		case i > last: // in the tail
			if records > 0 {
				return fmt.Errorf("%s holds records after %s: %w", name, tailStart, ErrCorrupt)
			}
		case scans[i].end < scans[i].fileSize:
			last = i
			tailStart = fmt.Sprintf("a damaged frame at byte %d of %s", scans[i].end, name)
		case i < len(bases)-1 && base+records != bases[i+1]:
			last = i
			tailStart = fmt.Sprintf("the end of %s (offset %d), where segment %d should start",
				name, base+records, bases[i+1])
		}
	}

	// Pass 2: remove the torn tail, and open. Only the last segment has room to grow.
	for i, base := range bases[:last+1] {
		capacity := uint64(0)
		if i == last {
			capacity = l.config.maxEntries()
		}
		s, repair, err := openSegment(l.dir, base, stores[i], scans[i], capacity, l.config.Disk)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, s)
		if repair.cutBytes > 0 {
			l.config.Logger.Warn("cut torn tail: bytes after the last intact record",
				"segment", base, "offset", s.next(), "bytes", repair.cutBytes)
		}
		if repair.index.rewritten > 0 || repair.index.fileSize != int64(s.index.len()*entryWidth) {
			l.config.Logger.Debug("rebuilt index from store: the log was not closed cleanly",
				"segment", base, "records", s.index.len(), "rewritten", repair.index.rewritten,
				"index_bytes_before", repair.index.fileSize)
		}
	}
	for i, base := range bases[last+1:] {
		st := stores[last+1+i]
		stores[last+1+i] = nil
		if err := removeTornSegment(l.dir, base, st); err != nil {
			return fmt.Errorf("remove segment %d, which holds no record: %w", base, err)
		}
		l.config.Logger.Warn("removed a segment of the torn tail: it holds no record",
			"segment", base, "bytes", scans[last+1+i].fileSize)
	}
	if last < len(bases)-1 {
		return l.config.Disk.SyncDir(l.dir)
	}
	return nil
}

// check finds the intact records of the segment at base: a sealed segment (not the
// last) whose files agree is taken as it is; any other is scanned.
func (l *Log) check(base uint64, st *store, last bool) (scanResult, error) {
	if !last {
		n, err := checkSealed(l.dir, base, st)
		if err != nil {
			return scanResult{}, err
		}
		if n > 0 {
			return scanResult{sealed: n, end: st.size, fileSize: st.size}, nil
		}
		l.config.Logger.Debug("scanning a sealed segment whose index does not match its store", "segment", base)
	}
	return st.scan()
}

// removeTornSegment closes st, the store of a segment that holds no record, and deletes
// the segment's files.
func removeTornSegment(dir string, base uint64, st *store) error {
	err := os.Remove(filepath.Join(dir, segmentName(base, indexSuffix)))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, st.close(), os.Remove(filepath.Join(dir, segmentName(base, storeSuffix))))
}

// listSegments returns the base offsets of the segments in the directory, in order,
// going by the store files.
func (l *Log) listSegments() ([]uint64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var bases []uint64
	for _, e := range entries {
		if base, ok := parseStoreName(e.Name()); ok && e.Type().IsRegular() {
			bases = append(bases, base)
			continue
		}
		if e.Name() != lockFileName && filepath.Ext(e.Name()) != indexSuffix {
			l.config.Logger.Debug("ignoring a file that is not part of the log", "name", e.Name())
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// Append adds a record at the end of the log and returns its offset: NextOffset() as it
// was just before. r's Value, TimeUnixNano and RaftIndex are stored, its Offset is
// ignored, and r is not modified. A record too large for a
// segment is refused with an error wrapping ErrRecordTooLarge; after Close the error is
// ErrClosed.
//
// Durability: when Append returns, the record has been handed to the operating system.
// It survives this process crashing, but not yet a power loss or a kernel crash: call
// Sync for that. On an error nothing has been appended, and the offset is not used.
func (l *Log) Append(r *Record) (uint64, error) {
	if r == nil {
		return 0, errors.New("log: append: nil record")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	active := l.segments[len(l.segments)-1]
	off := active.next()
	if off == math.MaxUint64 { // NextOffset would wrap around to 0
		return 0, fmt.Errorf("append: the log has used every offset up to %d", off)
	}
	payload, err := marshalRecord(atOffset(r, off))
	if err != nil {
		return 0, fmt.Errorf("append: encode record: %w", err)
	}
	size := uint64(len(payload))
	if size > maxPayloadSize || frameHeaderSize+size > l.config.Segment.MaxStoreBytes {
		return 0, fmt.Errorf("append: the record takes %d bytes on disk, a segment holds %d: %w",
			frameHeaderSize+size, l.config.Segment.MaxStoreBytes, ErrRecordTooLarge)
	}
	if !active.fits(size, l.config) {
		if active, err = l.roll(); err != nil {
			return 0, fmt.Errorf("append: %w", err)
		}
	}
	if _, err := active.append(payload); err != nil {
		return 0, fmt.Errorf("append at offset %d: %w", off, err)
	}
	close(l.appended)
	l.appended = make(chan struct{})
	return off, nil
}

// roll seals the active segment and starts a new one after it, which it returns. The
// caller holds l.mu for writing.
func (l *Log) roll() (*segment, error) {
	old := l.segments[len(l.segments)-1]
	if err := old.seal(); err != nil {
		return nil, fmt.Errorf("seal segment %d: %w", old.base, err)
	}
	s, err := newSegment(l.dir, old.next(), l.config.maxEntries(), l.config.Disk)
	if err != nil {
		return nil, fmt.Errorf("create segment %d: %w", old.next(), err)
	}
	l.segments = append(l.segments, s)
	l.dirUnsynced = true
	l.config.Logger.Debug("rolled to a new segment", "segment", s.base, "offset", s.base,
		"previous", old.base, "previous_records", old.index.len(), "previous_bytes", old.store.size)
	return s, nil
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// MaxStoreBytes returns the most bytes a segment's store file holds
// (Config.Segment.MaxStoreBytes, or its default).
func (l *Log) MaxStoreBytes() uint64 { return l.config.Segment.MaxStoreBytes }

// Read returns the record at offset off. The caller owns it.
//
// An offset the log does not hold (below LowestOffset, or at or after NextOffset) gives
// an ErrOffsetOutOfRange. A record damaged on disk gives an error wrapping ErrCorrupt,
// never wrong bytes. After Close the error is ErrClosed.
func (l *Log) Read(off uint64) (*Record, error) {
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
	payload, err := s.read(off)
	if err != nil {
		return nil, fmt.Errorf("read offset %d in segment %d: %w", off, s.base, err)
	}
	r, err := unmarshalRecord(payload)
	if err != nil {
		return nil, fmt.Errorf("read offset %d in segment %d: %w: %w", off, s.base, ErrCorrupt, err)
	}
	if r.Offset != off {
		return nil, fmt.Errorf("read offset %d in segment %d: the record there has offset %d: %w",
			off, s.base, r.Offset, ErrCorrupt)
	}
	return r, nil
}

// bounds returns the lowest offset and the next offset: the log holds [lowest, next).
// The caller holds l.mu.
func (l *Log) bounds() (lowest, next uint64) {
	if len(l.segments) == 0 { // only after Remove, or a failed Reset
		return l.config.Segment.InitialOffset, l.config.Segment.InitialOffset
	}
	return l.segments[0].base, l.segments[len(l.segments)-1].next()
}

// LowestOffset returns the offset of the oldest record in the log. When the log is
// empty, it equals NextOffset. After Close it returns the value at Close.
func (l *Log) LowestOffset() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	lowest, _ := l.bounds()
	return lowest
}

// HighestOffset returns the offset of the newest record in the log, or ErrEmpty when
// the log holds no record, or ErrClosed after Close.
func (l *Log) HighestOffset() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	lowest, next := l.bounds()
	if lowest == next {
		return 0, ErrEmpty
	}
	return next - 1, nil
}

// NextOffset returns the offset the next Append will return. After Close it returns the
// value at Close.
func (l *Log) NextOffset() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, next := l.bounds()
	return next
}

// Appended returns a channel that is closed by the next successful Append, by Reset or
// by Close: whatever changes what Read can return. It is a broadcast: every caller
// waiting on the channel is woken. Call Appended again for the next change. After Close
// the channel returned is already closed.
//
// To wait for the record at off without missing an append, get the channel before
// checking:
//
//	for {
//		changed := l.Appended()
//		r, err := l.Read(off)
//		if e, ok := errors.AsType[log.ErrOffsetOutOfRange](err); ok && off >= e.Next {
//			<-changed // or select on it together with a context
//			continue
//		}
//		return r, err
//	}
func (l *Log) Appended() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.appended
}

// Truncate removes every segment whose records all have offsets below lowest, except
// the active segment, which is never removed. It works on whole segments: records below
// lowest that share a segment with a record at or above lowest stay readable, and
// LowestOffset says where the log starts afterwards. Offsets are never reused: the next
// Append still gets NextOffset.
//
// A Reader created before Truncate fails with ErrClosed when it reaches a removed
// segment.
func (l *Log) Truncate(lowest uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var removed int
	var err error
	for removed < len(l.segments)-1 && l.segments[removed].next() <= lowest {
		if err = l.segments[removed].remove(); err != nil {
			err = fmt.Errorf("truncate: remove segment %d: %w", l.segments[removed].base, err)
			break
		}
		removed++
	}
	if removed == 0 {
		return err
	}
	l.segments = slices.Delete(l.segments, 0, removed)
	l.config.Logger.Debug("truncated: removed old segments", "segments", removed, "lowest", l.segments[0].base)
	if serr := l.config.Disk.SyncDir(l.dir); serr != nil {
		return errors.Join(err, fmt.Errorf("truncate: %w", serr))
	}
	l.dirUnsynced = false
	return err
}

// TruncateFrom removes every record whose offset is off or more: the newest records,
// where Truncate removes the oldest. Afterwards NextOffset is off (or LowestOffset, if
// off was below it, and the log is then empty), and the next Append gets that offset:
// unlike Truncate, TruncateFrom reuses offsets. Raft needs it to replace log entries
// that conflict with the leader's. An off at or past NextOffset removes nothing.
//
// The cut is durable when TruncateFrom returns. Newer segments are removed first, so a
// crash half-way leaves a prefix of the log. Waiters on Appended are woken; a Reader
// created before fails with ErrClosed if it reaches the cut. If TruncateFrom fails the
// log is left closed, since what is on disk is then unknown; reopen it with NewLog.
func (l *Log) TruncateFrom(off uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	lowest, next := l.bounds()
	if off >= next {
		return nil
	}
	off = max(off, lowest)
	// The segment that keeps the records below off becomes the active segment.
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].next() > off })
	if err := l.truncateFromLocked(i, off); err != nil {
		return fmt.Errorf("truncate log %s from offset %d, which is now closed: %w",
			l.dir, off, errors.Join(err, l.closeLocked()))
	}
	l.config.Logger.Debug("truncated: removed newest records", "offset", off, "previous_next", next)
	close(l.appended)
	l.appended = make(chan struct{})
	return nil
}

// truncateFromLocked removes the segments after segment i, cuts segment i's store at
// the record at off, and reopens segment i as the active segment, with its index rebuilt
// from the store and room for a full segment's records. The caller holds l.mu for
// writing; on error it closes the log.
func (l *Log) truncateFromLocked(i int, off uint64) error {
	removed := len(l.segments) > i+1
	for len(l.segments) > i+1 {
		s := l.segments[len(l.segments)-1]
		if err := s.remove(); err != nil {
			return fmt.Errorf("remove segment %d: %w", s.base, err)
		}
		l.segments = l.segments[:len(l.segments)-1]
		l.stepDone(fmt.Sprintf("removed segment %d", s.base))
	}
	// The removals must be on disk before the cut is: a power loss that kept the cut
	// but lost the removals would leave segments that no longer follow on from the cut
	// one, and NewLog would refuse the log.
	if removed {
		if err := l.config.Disk.SyncDir(l.dir); err != nil {
			return err
		}
	}
	s := l.segments[i] // s.base <= off < s.next()
	pos, err := s.index.entry(off - s.base)
	if err != nil {
		return fmt.Errorf("segment %d: %w", s.base, err)
	}
	if s.pins > 0 && pos < s.pinnedSize {
		return fmt.Errorf("segment %d: offset %d is in the part of the segment a Pin holds", s.base, off)
	}
	if err := s.store.cut(pos, l.config.Disk); err != nil {
		return fmt.Errorf("cut segment %d: %w", s.base, err)
	}
	l.stepDone(fmt.Sprintf("cut segment %d at offset %d", s.base, off))
	// Reopen the segment the way NewLog does, so that an old (sealed) segment gets an
	// index with room again.
	l.segments = l.segments[:i]
	if err := s.close(); err != nil {
		return fmt.Errorf("close segment %d: %w", s.base, err)
	}
	st, err := openStore(filepath.Join(l.dir, segmentName(s.base, storeSuffix)))
	if err != nil {
		return err
	}
	scanned, err := st.scan()
	if err == nil && scanned.end != scanned.fileSize {
		err = fmt.Errorf("segment %d has %d bytes after its last record: %w", s.base, scanned.fileSize-scanned.end, ErrCorrupt)
	}
	if err != nil {
		return errors.Join(err, st.close())
	}
	reopened, _, err := openSegment(l.dir, s.base, st, scanned, l.config.maxEntries(), l.config.Disk)
	if err != nil {
		return errors.Join(err, st.close())
	}
	// The same segment, with its files open again: a Pin on it still counts.
	s.store, s.index, s.unsynced = reopened.store, reopened.index, false
	l.segments = append(l.segments, s)
	if err := l.config.Disk.SyncDir(l.dir); err != nil {
		return err
	}
	l.dirUnsynced = false
	return nil
}

// RestartAt removes every record and starts the log again, empty, at offset off, in the
// same directory (files that are not segments are left alone). It is Reset at an offset
// of the caller's choice, with the segments removed in the opposite order, for the Raft
// log store (see LogStore.restartAt): oldest first, with the directory synced after
// each removal, so that a crash half-way leaves the newest segments, and the log still
// ends where it did until its last segment is gone. The new segment is then created and
// the directory synced. Waiters on Appended are woken; Readers created before fail with
// ErrClosed. If RestartAt fails the log is left closed, since what is on disk is then
// unknown; reopen it with NewLog.
func (l *Log) RestartAt(off uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.restartAtLocked(off); err != nil {
		return fmt.Errorf("restart log %s at offset %d, which is now closed: %w",
			l.dir, off, errors.Join(err, l.closeLocked()))
	}
	l.config.Logger.Debug("log restarted", "segment", off, "offset", off)
	close(l.appended)
	l.appended = make(chan struct{})
	return nil
}

// restartAtLocked does the work of RestartAt. The caller holds l.mu for writing; on
// error it closes the log.
func (l *Log) restartAtLocked(off uint64) error {
	for len(l.segments) > 0 {
		s := l.segments[0]
		if err := s.remove(); err != nil {
			return fmt.Errorf("remove segment %d: %w", s.base, err)
		}
		l.segments = l.segments[1:]
		if err := l.config.Disk.SyncDir(l.dir); err != nil {
			return err
		}
		l.stepDone(fmt.Sprintf("removed segment %d", s.base))
	}
	s, err := newSegment(l.dir, off, l.config.maxEntries(), l.config.Disk)
	if err != nil {
		return fmt.Errorf("create segment %d: %w", off, err)
	}
	l.segments = []*segment{s}
	if err := l.config.Disk.SyncDir(l.dir); err != nil {
		return err
	}
	l.dirUnsynced = false
	l.stepDone(fmt.Sprintf("created segment %d", off))
	return nil
}

// SetAfterStep makes the log call step after each change to its files that TruncateFrom
// and RestartAt make, with what was done. It is for tests that copy the directory at
// each step to see what a crash at that moment would leave. Call it before using l.
func (l *Log) SetAfterStep(step func(done string)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.afterStep = step
}

// stepDone tells afterStep, if set, that a step of TruncateFrom or RestartAt is done.
func (l *Log) stepDone(done string) {
	if l.afterStep != nil {
		l.afterStep(done)
	}
}

// Reader returns a reader of the whole log as it is now: the bytes of every segment's
// store file, oldest first, up to their sizes at the time of the call. Records appended
// later are not included. The stream is a sequence of frames:
//
//	[length uint32][crc uint32][payload: length bytes]  (big-endian)
//
// where crc is the CRC-32C (Castagnoli) of the 4 length bytes followed by the payload,
// and the payload is an encoded record. NewScanner decodes the stream back into records.
//
// The reader is for one goroutine. If Close, Truncate or Reset closes a segment before
// the reader has read it, its Read returns an error wrapping ErrClosed. After Close,
// Reader returns a reader that fails with ErrClosed.
func (l *Log) Reader() io.Reader {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errorReader{ErrClosed}
	}
	readers := make([]io.Reader, len(l.segments))
	for i, s := range l.segments {
		readers[i] = &segmentReader{base: s.base, r: io.NewSectionReader(s.store.file, 0, int64(s.store.size))}
	}
	return io.MultiReader(readers...)
}

// A segmentReader reads a fixed part of a store file, and explains the error it gets if
// the file has been closed under it.
type segmentReader struct {
	base uint64
	r    *io.SectionReader
}

func (r *segmentReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if errors.Is(err, os.ErrClosed) {
		err = fmt.Errorf("log reader: segment %d was closed (by Close, Truncate or Reset) before it was read: %w",
			r.base, ErrClosed)
	}
	return n, err
}

// An errorReader fails every Read with err.
type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) { return 0, r.err }

// Sync makes every record appended so far durable: it flushes to stable storage
// (fsync) the store of every segment appended to since the last Sync, and the directory
// if segments were created. Indexes are not flushed: NewLog rebuilds them from the
// stores. It returns when that is done; a Sync with nothing to flush costs nothing.
// After Close it returns ErrClosed.
//
// Appends wait while Sync runs; reads do not.
func (l *Log) Sync() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.dirUnsynced {
		if err := l.config.Disk.SyncDir(l.dir); err != nil {
			return fmt.Errorf("sync log %s: %w", l.dir, err)
		}
		l.dirUnsynced = false
	}
	for _, s := range l.segments {
		if !s.unsynced {
			continue
		}
		if err := s.sync(); err != nil {
			return fmt.Errorf("sync log %s: segment %d: %w", l.dir, s.base, err)
		}
		s.unsynced = false
	}
	return nil
}

// Close syncs the log as Sync does, closes every segment, trims each index file to its
// entries, and releases the directory. Waiters on Appended are woken. Close is idempotent: closing a
// closed log returns nil. Other methods return ErrClosed afterwards.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if err := l.closeLocked(); err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	return nil
}

// closeLocked closes the segments (keeping them in l.segments, so that LowestOffset and
// NextOffset still answer), wakes waiters and releases the directory. The caller holds
// l.mu for writing.
func (l *Log) closeLocked() error {
	var errs []error
	if l.dirUnsynced {
		errs = append(errs, l.config.Disk.SyncDir(l.dir))
	}
	for _, s := range l.segments { // each segment flushes itself if it needs to
		errs = append(errs, s.close())
	}
	l.closed = true
	close(l.appended)
	errs = append(errs, unlockDir(l.lock))
	return errors.Join(errs...)
}

// Remove closes the log and deletes its directory with everything in it. After Close
// it returns ErrClosed and deletes nothing: the log no longer owns the directory.
func (l *Log) Remove() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var errs []error
	for _, s := range l.segments {
		s.unsynced = false // no point flushing what is deleted
		errs = append(errs, s.close())
	}
	// Delete before releasing the lock, so that no other Log opens the directory meanwhile.
	errs = append(errs, os.RemoveAll(l.dir))
	l.segments = nil
	l.closed = true
	close(l.appended)
	errs = append(errs, unlockDir(l.lock))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove log %s: %w", l.dir, err)
	}
	return nil
}

// Reset removes every record and starts the log again, empty, at
// Config.Segment.InitialOffset, in the same directory (files that are not segments are
// left alone). Waiters on Appended are woken; Readers created before fail with
// ErrClosed. If Reset fails the log is left closed, since what is on disk is then
// unknown; reopen it with NewLog.
func (l *Log) Reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	// Newest first: a crash half-way leaves the oldest records, which is still a log.
	var errs []error
	for _, s := range slices.Backward(l.segments) {
		if err := s.remove(); err != nil {
			errs = append(errs, fmt.Errorf("remove segment %d: %w", s.base, err), s.close())
		}
	}
	l.segments = nil
	err := errors.Join(errs...)
	if err == nil {
		base := l.config.Segment.InitialOffset
		var s *segment
		if s, err = newSegment(l.dir, base, l.config.maxEntries(), l.config.Disk); err == nil {
			l.segments = []*segment{s}
			err = l.config.Disk.SyncDir(l.dir) // the removals and the new segment
		}
	}
	if err != nil {
		return fmt.Errorf("reset log %s, which is now closed: %w", l.dir, errors.Join(err, l.closeLocked()))
	}
	l.dirUnsynced = false
	l.config.Logger.Debug("log reset", "segment", l.segments[0].base, "offset", l.segments[0].base)
	close(l.appended)
	l.appended = make(chan struct{})
	return nil
}
