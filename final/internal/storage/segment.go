package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Segment files are named after the segment's base offset, zero-padded to 20 digits
// (the width of the largest uint64) so that names sort in offset order:
//
//	00000000000000000000.store  00000000000000000000.index
//	00000000000000001000.store  00000000000000001000.index
const (
	storeSuffix    = ".store"
	indexSuffix    = ".index"
	baseNameDigits = 20
)

// segmentName returns the file name of a segment's store or index.
func segmentName(base uint64, suffix string) string {
	return fmt.Sprintf("%0*d%s", baseNameDigits, base, suffix)
}

// parseStoreName returns the base offset a store file name stands for. It accepts only
// names segmentName makes, so that stray files are never mistaken for segments.
func parseStoreName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, storeSuffix)
	if !ok || len(digits) != baseNameDigits || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	return base, err == nil
}

// A segment is a store and its index: the records from offset base up to, not
// including, next(). The last segment of a log is the active one, the only one appended
// to; the others never change again.
//
// A segment has no lock of its own: the Log's mutex guards it (see Log).
type segment struct {
	dir   string
	base  uint64
	store *store
	index *index
	disk  Disk // flushes the files (Config.Disk)

	// unsynced is set by append and cleared once the segment is flushed (by Log.Sync or
	// close). The Log's mu and syncMu guard it (see Log).
	unsynced bool

	// Pins (see Pin), guarded by the Log's mu: how many hold the segment, the largest
	// store size one of them saw, and whether the log has removed the segment while it
	// was pinned (its store file then has the retired name).
	pins       int
	pinnedSize uint64
	retired    bool
}

// newSegment creates the files of an empty segment at base, with room in its index for
// capacity entries. The caller syncs the directory, so that the new files stay after a
// power loss.
func newSegment(dir string, base, capacity uint64, disk Disk) (*segment, error) {
	st, err := createStore(filepath.Join(dir, segmentName(base, storeSuffix)))
	if err != nil {
		return nil, err
	}
	idx, _, err := openIndex(filepath.Join(dir, segmentName(base, indexSuffix)), nil, capacity)
	if err != nil {
		return nil, errors.Join(err, st.close())
	}
	return &segment{dir: dir, base: base, store: st, index: idx, disk: disk}, nil
}

// openSegment opens the segment at base from its store, which scan has read: the torn
// tail scan found, if any, is cut, and the index is rebuilt from the store's frames.
// capacity is the room to leave in the index; old segments get none beyond their records.
// It returns what it repaired, for the caller to log.
func openSegment(dir string, base uint64, st *store, scanned scanResult, capacity uint64, disk Disk) (*segment, segmentRepair, error) {
	repair := segmentRepair{cutBytes: scanned.fileSize - scanned.end}
	if repair.cutBytes > 0 {
		if err := st.cut(scanned.end, disk); err != nil {
			return nil, repair, fmt.Errorf("cut torn tail of %s: %w", st.file.Name(), err)
		}
	}
	st.size = scanned.end
	if scanned.sealed > 0 {
		idx, err := openSealedIndex(filepath.Join(dir, segmentName(base, indexSuffix)), scanned.sealed)
		if err != nil {
			return nil, repair, fmt.Errorf("open index of segment %d: %w", base, err)
		}
		repair.index.fileSize = int64(scanned.sealed * entryWidth)
		return &segment{dir: dir, base: base, store: st, index: idx, disk: disk}, repair, nil
	}
	idx, indexRepair, err := openIndex(filepath.Join(dir, segmentName(base, indexSuffix)), scanned.positions, capacity)
	if err != nil {
		return nil, repair, fmt.Errorf("open index of segment %d: %w", base, err)
	}
	repair.index = indexRepair
	return &segment{dir: dir, base: base, store: st, index: idx, disk: disk}, repair, nil
}

// A segmentRepair tells what openSegment changed.
type segmentRepair struct {
	cutBytes uint64 // size of the torn tail cut from the store
	index    indexRepair
}

// next returns the offset the segment's next record gets.
func (s *segment) next() uint64 {
	return s.base + s.index.len()
}

// fits reports whether a record with a payload of payloadSize bytes can be appended
// without taking the segment past the limits of c.
func (s *segment) fits(payloadSize uint64, c Config) bool {
	return s.store.size+frameHeaderSize+payloadSize <= c.Segment.MaxStoreBytes &&
		s.index.len() < min(c.maxEntries(), s.index.cap())
}

// append writes a record's payload and returns its offset. The caller has checked that
// it fits. The store is written first: an index entry never points at a frame that is
// not there.
func (s *segment) append(payload []byte) (uint64, error) {
	pos, err := s.store.append(payload)
	if err != nil {
		return 0, err
	}
	off := s.next()
	s.index.append(pos)
	s.unsynced = true
	return off, nil
}

// appendFrames writes frames, whole frames that start at the given positions within
// it, with one write, and indexes each. The caller has checked that they fit.
func (s *segment) appendFrames(frames []byte, starts []uint64) error {
	pos, err := s.store.appendFrames(frames)
	if err != nil {
		return err
	}
	for _, start := range starts {
		s.index.append(pos + start)
	}
	s.unsynced = true
	return nil
}

// read returns the payload of the record at off, which must be in the segment.
func (s *segment) read(off uint64) ([]byte, error) {
	n := off - s.base
	pos, err := s.index.entry(n)
	if err != nil {
		return nil, err
	}
	end := s.store.size // the frame of the last record ends where the store does
	if n+1 < s.index.len() {
		if end, err = s.index.entry(n + 1); err != nil {
			return nil, err
		}
	}
	return s.store.read(pos, end)
}

// readRun returns the payloads of up to n records from off on (off is in the
// segment), read with one read of the store that stops before maxBytes unless the
// first frame alone is larger. They share one buffer.
func (s *segment) readRun(off, n, maxBytes uint64) ([][]byte, error) {
	first := off - s.base
	n = min(n, s.index.len()-first)
	// ends[k] is where frame k of the run ends: where the next one starts, or the
	// store's end after the last record.
	start, err := s.index.entry(first)
	if err != nil {
		return nil, err
	}
	ends := make([]uint64, 0, n)
	for k := uint64(1); k <= n; k++ {
		end := s.store.size
		if first+k < s.index.len() {
			if end, err = s.index.entry(first + k); err != nil {
				return nil, err
			}
		}
		prev := start
		if len(ends) > 0 {
			prev = ends[len(ends)-1]
		}
		if end <= prev || end > s.store.size {
			return nil, fmt.Errorf("index entry %d: a frame at bytes [%d, %d) of a %d-byte store: %w",
				first+k-1, prev, end, s.store.size, ErrCorrupt)
		}
		if k > 1 && end-start > maxBytes {
			break
		}
		ends = append(ends, end)
	}
	frames, err := s.store.readRange(start, ends[len(ends)-1])
	if err != nil {
		return nil, err
	}
	payloads := make([][]byte, len(ends))
	pos := start
	for k, end := range ends {
		payload, ok := decodeFrame(frames[pos-start : end-start])
		if !ok {
			return nil, fmt.Errorf("frame at byte %d: damaged: %w", pos, ErrCorrupt)
		}
		payloads[k] = payload
		pos = end
	}
	return payloads, nil
}

// sync flushes the segment's store to stable storage.
//
// Not the index: NewLog rebuilds every index from its store whenever it opens a
// segment, after a crash as after a clean close (each entry is rewritten from the
// frames the store holds, and their number is the index's length), so what an index
// file holds on disk never matters. Flushing it (msync, then fsync) would double the
// cost of every Sync and buy nothing.
func (s *segment) sync() error {
	return s.disk.SyncFile(s.store.file)
}

// seal is called when the segment stops being the active one, before the next one is
// created: its index is trimmed to the entries in use, and its store and index are
// flushed to disk. A sealed segment never changes again, so when the log is opened
// after a crash its files can be checked rather than scanned (see checkSealed). That
// costs two fsyncs per segment, when rolling.
func (s *segment) seal() error {
	if err := s.sync(); err != nil {
		return err
	}
	s.unsynced = false
	if err := s.index.trim(); err != nil {
		return err
	}
	return s.index.flush(s.disk)
}

// close flushes the segment's store if it has unsynced appends, and closes its files;
// the index file is trimmed to its entries.
func (s *segment) close() error {
	var err error
	if s.unsynced {
		err = s.sync()
	}
	return errors.Join(err, s.index.close(), s.store.close())
}

// remove closes the segment and deletes its files. The store goes first: if it cannot
// be deleted, the segment is left open and whole, and the error says so. The store file
// of a pinned segment is renamed instead, and deleted when the last Pin is released.
// The caller holds the Log's mu for writing.
func (s *segment) remove() error {
	store := filepath.Join(s.dir, segmentName(s.base, storeSuffix))
	if s.pins > 0 {
		if err := os.Rename(store, s.retiredPath()); err != nil {
			return err
		}
		s.retired = true
	} else if err := os.Remove(store); err != nil {
		return err
	}
	s.unsynced = false // no point flushing what is deleted
	return errors.Join(s.close(), os.Remove(filepath.Join(s.dir, segmentName(s.base, indexSuffix))))
}

// SyncDir flushes a directory to stable storage, so that files created in it or removed
// from it, or renamed, stay so after a power loss.
func SyncDir(dir string) error { return syncDir(dir) }

// syncDir does the work of SyncDir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
