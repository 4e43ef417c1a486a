package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// # Opening in time independent of the log's size
//
// Reading every frame of every store on open, as a crash-safe log must for the segment
// that was being written, would make a restart of a 100 GiB log take minutes. Only the
// active segment can have been cut short by a crash, though: a segment is sealed when
// the log rolls past it, and sealing flushes its store and its trimmed index to disk
// (seal) before the next segment is created. So on open a sealed segment is checked,
// not scanned: checkSealed reads its index's first and last entries and the last frame.
// A segment that passes is used with the index as it is on disk; one that does not (a
// segment sealed by an older version, or damaged) is scanned and its index rebuilt, as
// the active segment always is. Reads check every frame's checksum and the offset in
// the record anyway, so damage inside a sealed segment is reported when it is read,
// never returned as data.

// checkSealed reports whether the store file of a sealed segment at base and its index
// file agree, so that the index can be trusted without reading the store: the index
// holds n >= 1 whole entries; the first points at byte 0; the last, for relative offset
// n-1, points at an intact frame that holds the record at offset base+n-1 and ends
// exactly where the store file ends. It returns n, or 0 when the files do not agree (or
// the index is missing); an error only when a file cannot be read.
func checkSealed(dir string, base uint64, st *store) (uint64, error) {
	info, err := st.file.Stat()
	if err != nil {
		return 0, err
	}
	storeSize := uint64(info.Size())
	st.size = storeSize // what read checks frame bounds against; scan sets it otherwise
	idx, err := os.Open(filepath.Join(dir, segmentName(base, indexSuffix)))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer idx.Close()
	if info, err = idx.Stat(); err != nil {
		return 0, err
	}
	size := uint64(info.Size())
	if size == 0 || size%entryWidth != 0 || size/entryWidth > maxEntriesPerSegment {
		return 0, nil
	}
	n := size / entryWidth
	first, err := readIndexEntry(idx, 0)
	if err != nil {
		return 0, err
	}
	last, err := readIndexEntry(idx, n-1)
	if err != nil {
		return 0, err
	}
	if first.rel != 0 || first.pos != 0 || uint64(last.rel) != n-1 || last.pos >= storeSize {
		return 0, nil
	}
	payload, err := st.read(last.pos, storeSize)
	if errors.Is(err, ErrCorrupt) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	r, err := unmarshalRecord(payload)
	if err != nil || r.Offset != base+n-1 {
		return 0, nil
	}
	return n, nil
}

// An indexEntry is one entry of an index file as read from the file.
type indexEntry struct {
	rel uint32
	pos uint64
}

// readIndexEntry reads entry n of an index file.
func readIndexEntry(f *os.File, n uint64) (indexEntry, error) {
	var b [entryWidth]byte
	if _, err := f.ReadAt(b[:], int64(n*entryWidth)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return indexEntry{}, fmt.Errorf("read index entry %d: %w", n, err)
	}
	return indexEntry{
		rel: binary.BigEndian.Uint32(b[:entryOffsetSize]),
		pos: binary.BigEndian.Uint64(b[entryOffsetSize:]),
	}, nil
}
