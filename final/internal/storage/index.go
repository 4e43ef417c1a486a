package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/tysonmote/gommap"
	"golang.org/x/sys/unix"
)

// An index file is an array of fixed-width entries, one per record of the segment, in
// offset order. Entry n describes the record at offset base+n:
//
//	 0                 4                                12
//	+-----------------+---------------------------------+
//	| relative offset | position of the frame in store  |  entry 0
//	+-----------------+---------------------------------+
//	| relative offset | position                        |  entry 1
//	+-----------------+---------------------------------+
//	...
//
// The relative offset (offset − base, 4 bytes) is always n; it is kept as a check. The
// position (8 bytes) is where the record's frame starts in the store file. Both are
// big-endian.
const (
	entryOffsetSize   = 4
	entryPositionSize = 8
	entryWidth        = entryOffsetSize + entryPositionSize
)

// An index maps a segment's relative offsets to positions in its store. The file is
// memory-mapped, so looking an offset up is reading 12 bytes of memory.
//
// The file is sized up front for every entry the segment may hold, and mapped whole:
// a mapping cannot grow. So the file's size says nothing about how many entries are in
// use; n does, and the index is rebuilt from the store whenever a segment is opened.
// For the same reason an index is never flushed to disk (see segment.sync).
//
// An index has no lock of its own. The Log's mutex serialises append, trim and close
// with everything else; entry may run concurrently with other calls to entry.
type index struct {
	file *os.File
	mmap gommap.MMap // the whole file, mapped shared; nil once unmapped
	n    uint64      // entries in use
}

// An indexRepair tells what openIndex found.
type indexRepair struct {
	rewritten int   // entries that did not match the store and were rewritten
	fileSize  int64 // the file's size before opening; entries*12 after a clean close
}

// openIndex opens the index file at path, creating it if needed, and makes it hold one
// entry for each position in positions (the frames found in the store, which is the
// source of truth) with room for capacity entries in all. The file is sized and mapped
// before anything is written to it.
func openIndex(path string, positions []uint64, capacity uint64) (*index, indexRepair, error) {
	if uint64(len(positions)) > maxEntriesPerSegment {
		return nil, indexRepair{}, fmt.Errorf("%d records do not fit in one segment's index: %w", len(positions), ErrCorrupt)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, indexRepair{}, err
	}
	i := &index{file: f}
	repair, err := i.load(positions, capacity)
	if err != nil {
		return nil, indexRepair{}, errors.Join(err, i.close())
	}
	return i, repair, nil
}

func (i *index) load(positions []uint64, capacity uint64) (indexRepair, error) {
	info, err := i.file.Stat()
	if err != nil {
		return indexRepair{}, err
	}
	repair := indexRepair{fileSize: info.Size()}

	// Never map an empty file: mmap refuses a zero length.
	size := int64(max(uint64(len(positions)), capacity, 1) * entryWidth)
	if info.Size() > size {
		// Left over from a larger configuration, or from before a torn tail was cut.
		if err := i.file.Truncate(size); err != nil {
			return repair, err
		}
	}
	if err := allocate(i.file, size); err != nil {
		return repair, fmt.Errorf("allocate %d bytes: %w", size, err)
	}
	if err := i.mapFile(); err != nil {
		return repair, err
	}
	for n, pos := range positions {
		if rel, p := i.read(uint64(n)); uint64(rel) != uint64(n) || p != pos {
			i.write(uint64(n), pos)
			repair.rewritten++
		}
	}
	i.n = uint64(len(positions))
	return repair, nil
}

// openSealedIndex opens the index file of a sealed segment, which holds exactly n
// entries, without reading them: checkSealed has checked the file against its store.
// The index is full: len == cap.
func openSealedIndex(path string, n uint64) (*index, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	i := &index{file: f, n: n}
	if err := i.mapFile(); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return i, nil
}

// flush writes the index to stable storage: the mapping (msync), then the file
// (fsync). Only sealing needs it (see checkSealed): an active segment's index is rebuilt
// from its store on open.
func (i *index) flush(disk Disk) error {
	if i.mmap != nil {
		if err := unix.Msync(i.mmap, unix.MS_SYNC); err != nil {
			return fmt.Errorf("msync: %w", err)
		}
	}
	return disk.SyncFile(i.file)
}

// mapFile maps the whole file, read-write and shared: writes to the mapping are writes
// to the file.
func (i *index) mapFile() error {
	m, err := gommap.Map(i.file.Fd(), gommap.PROT_READ|gommap.PROT_WRITE, gommap.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	i.mmap = m
	return nil
}

// len returns the number of entries in use.
func (i *index) len() uint64 { return i.n }

// cap returns the number of entries the mapping has room for.
func (i *index) cap() uint64 { return uint64(len(i.mmap)) / entryWidth }

// read returns entry n, which must be below cap.
func (i *index) read(n uint64) (rel uint32, pos uint64) {
	e := i.mmap[n*entryWidth : (n+1)*entryWidth]
	return binary.BigEndian.Uint32(e[:entryOffsetSize]), binary.BigEndian.Uint64(e[entryOffsetSize:])
}

// write sets entry n, which must be below cap.
func (i *index) write(n, pos uint64) {
	e := i.mmap[n*entryWidth : (n+1)*entryWidth]
	binary.BigEndian.PutUint32(e[:entryOffsetSize], uint32(n))
	binary.BigEndian.PutUint64(e[entryOffsetSize:], pos)
}

// entry returns the store position of the record at relative offset n, which must be
// below len. The entry's relative offset is checked, so a damaged entry is reported
// rather than followed.
func (i *index) entry(n uint64) (uint64, error) {
	if n >= i.cap() { // only after a failed trim left the index unmapped
		return 0, fmt.Errorf("index entry %d: index is not mapped", n)
	}
	rel, pos := i.read(n)
	if uint64(rel) != n {
		return 0, fmt.Errorf("index entry %d holds relative offset %d: %w", n, rel, ErrCorrupt)
	}
	return pos, nil
}

// append adds an entry for the next record, whose frame starts at pos in the store. The
// caller has checked that len < cap.
func (i *index) append(pos uint64) {
	i.write(i.n, pos)
	i.n++
}

// trim shrinks the file to the entries in use and maps it again. It is done when a
// segment stops being the active one, so that old segments do not keep the disk space
// reserved for entries they will never get. Afterwards the index is full: len == cap.
// Nothing is flushed: the index is rebuilt from the store on open anyway.
func (i *index) trim() error {
	if i.n == 0 {
		return nil // mmap refuses a zero length; an empty segment is never rolled anyway
	}
	if err := i.unmap(); err != nil {
		return err
	}
	if err := i.file.Truncate(int64(i.n * entryWidth)); err != nil {
		return err
	}
	return i.mapFile()
}

// close unmaps the index, shrinks the file to the entries in use, so that a cleanly
// closed index is exactly n entries long, and closes it. It does not flush: an index
// is rebuilt from its store on open.
func (i *index) close() error {
	var errs []error
	if i.mmap != nil {
		errs = append(errs, i.unmap())
	}
	errs = append(errs, i.file.Truncate(int64(i.n*entryWidth)), i.file.Close())
	return errors.Join(errs...)
}

// unmap removes the mapping. Changes made through it stay in the page cache and reach
// the file as any other write does. The file must not be shrunk while it is mapped:
// touching a mapped page past the end of the file kills the process with SIGBUS.
func (i *index) unmap() error {
	err := i.mmap.UnsafeUnmap()
	i.mmap = nil
	if err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return nil
}

// growTo makes f at least size bytes long; it never shrinks it.
func growTo(f *os.File, size int64) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() >= size {
		return nil
	}
	return f.Truncate(size)
}
