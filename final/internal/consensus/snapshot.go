package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"golog/internal/storage"
)

// # Snapshots
//
// A snapshot of the state machine is its data log at one moment plus a little state:
// how far it got (the Raft index of the last command applied), the offsets it holds
// ([lowest, next)), and the producer table. The data log is not copied: a snapshot is
// the list of the data log's segment files with their sizes, and a hard link to each
// (storage.Pin). Taking one costs a few file-system operations, whatever the size of
// the log; on disk it costs nothing until the log removes segments the snapshot still
// links (retention), and then only until a newer snapshot replaces it.
//
// A snapshot travels (to a follower that is too far behind, InstallSnapshot) and is
// read back (Restore) as one stream:
//
//	+----------------+-----+---------------------+----------+---------------------------+
//	| "golog-ss" (8) | ver | manifest length (4) | manifest | segment files, in order:  |
//	|                | (1) |                     |          | the first Size bytes each |
//	+----------------+-----+---------------------+----------+---------------------------+
//
// The manifest (all numbers big-endian):
//
//	applied         uint64  Raft index of the last command applied
//	next, lowest    uint64  the records are offsets [lowest, next)
//	last record     uint64  Raft index of the record at next-1 (0 if there is none)
//	segments        uint32, then base, next, size (uint64 each) per segment
//	producers       the producer table (producerTable.encode)
//	crc             uint32  CRC-32C of everything above
//
// The segment bytes need no checksum of their own: every record in them is a framed,
// checksummed store record, and Restore reads them through a storage.Log.
const (
	snapshotMagic      = "golog-ss"
	snapshotVersion    = 1
	snapshotHeaderSize = len(snapshotMagic) + 1 + 4

	// maxManifestSize bounds the manifest a stream may announce: the producer table
	// at its largest, and many segments.
	maxManifestSize = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadSnapshot is wrapped by the errors of a snapshot that is not what it should be.
var errBadSnapshot = fmt.Errorf("not a valid golog snapshot: %w", storage.ErrCorrupt)

// A manifest describes a snapshot (see above).
type manifest struct {
	applied    uint64
	next       uint64
	lowest     uint64
	lastRecord uint64
	segments   []storage.SegmentFile
	producers  *producerTable
}

// encode returns the manifest's bytes.
func (m *manifest) encode() []byte {
	b := make([]byte, 0, 36+24*len(m.segments))
	b = binary.BigEndian.AppendUint64(b, m.applied)
	b = binary.BigEndian.AppendUint64(b, m.next)
	b = binary.BigEndian.AppendUint64(b, m.lowest)
	b = binary.BigEndian.AppendUint64(b, m.lastRecord)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.segments)))
	for _, s := range m.segments {
		b = binary.BigEndian.AppendUint64(b, s.Base)
		b = binary.BigEndian.AppendUint64(b, s.Next)
		b = binary.BigEndian.AppendUint64(b, s.Size)
	}
	b = m.producers.encode(b)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeManifest reads what encode wrote, and checks it.
func decodeManifest(b []byte) (*manifest, error) {
	if len(b) < 4 || crc32.Checksum(b[:len(b)-4], castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("manifest of %d bytes fails its checksum: %w", len(b), errBadSnapshot)
	}
	d := decoder{b: b[:len(b)-4]}
	m := &manifest{applied: d.uint64(), next: d.uint64(), lowest: d.uint64(), lastRecord: d.uint64()}
	n := d.uint32()
	if d.err == nil && uint64(n)*24 > uint64(len(d.b)) {
		d.fail()
	}
	for range n {
		m.segments = append(m.segments, storage.SegmentFile{Base: d.uint64(), Next: d.uint64(), Size: d.uint64()})
	}
	producers, err := decodeProducers(&d)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w: %w", err, errBadSnapshot)
	}
	m.producers = producers
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return nil, fmt.Errorf("manifest: %w: %w", d.err, errBadSnapshot)
	}
	if m.next < m.lowest {
		return nil, fmt.Errorf("manifest: records %d to %d: %w", m.lowest, m.next, errBadSnapshot)
	}
	return m, nil
}

// streamHeader returns the stream's bytes before the segment files.
func streamHeader(manifest []byte) []byte {
	b := make([]byte, 0, snapshotHeaderSize+len(manifest))
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(manifest)))
	return append(b, manifest...)
}

// streamSize returns the length of the stream of a snapshot whose manifest has
// manifestSize bytes.
func streamSize(manifestSize int, segments []storage.SegmentFile) int64 {
	size := int64(snapshotHeaderSize + manifestSize)
	for _, s := range segments {
		size += int64(s.Size)
	}
	return size
}

// readManifest reads the stream's header and manifest from r.
func readManifest(r io.Reader) (*manifest, error) {
	header := make([]byte, snapshotHeaderSize)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if string(header[:len(snapshotMagic)]) != snapshotMagic || header[len(snapshotMagic)] != snapshotVersion {
		return nil, fmt.Errorf("no golog snapshot header of version %d: %w", snapshotVersion, errBadSnapshot)
	}
	size := binary.BigEndian.Uint32(header[len(snapshotMagic)+1:])
	if size > maxManifestSize {
		return nil, fmt.Errorf("a manifest of %d bytes: %w", size, errBadSnapshot)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read snapshot manifest: %w", err)
	}
	return decodeManifest(b)
}

// writeSegments writes the segment files of m, which follow the manifest in r, into dir
// as files named for their segments (storage.SegmentFile.Name), each synced to disk.
// It reads exactly their sizes from r.
func writeSegments(r io.Reader, m *manifest, dir string) error {
	for _, s := range m.segments {
		if err := writeFile(filepath.Join(dir, s.Name()), io.LimitReader(r, int64(s.Size)), s.Size); err != nil {
			return fmt.Errorf("segment %d: %w", s.Base, err)
		}
	}
	return nil
}

// writeFile creates path and copies size bytes from r into it, then syncs it.
func writeFile(path string, r io.Reader, size uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if err == nil && uint64(n) != size {
		err = fmt.Errorf("%d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return errors.Join(err, os.Remove(path))
	}
	return nil
}
