package log

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file holds what a Raft log store built on this package (golog/internal/consensus)
// needs from it beyond a log: TruncateFrom and RestartAt are methods of Log (log.go);
// here are the frame encoding, for small files that must be checked like records, the
// size a record takes on disk, the directory sync, and a hook for crash tests.

// EncodeFrame returns payload framed the way a store frames a record: its length and a
// CRC-32C over length and payload, then payload (see the package documentation).
func EncodeFrame(payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, frameChecksum(b, payload))
	return append(b, payload...)
}

// DecodeFrame checks that frame is exactly one whole, intact frame, as EncodeFrame
// writes it, and returns its payload, which shares frame's memory. ok is false for
// anything else: a short frame, a length that does not match, a checksum that fails.
func DecodeFrame(frame []byte) (payload []byte, ok bool) { return decodeFrame(frame) }

// RecordSize returns the most bytes r takes in a store file, whatever its offset: the
// frame header and r encoded with the largest offset. Append refuses a record larger
// than c.StoreLimit() with ErrRecordTooLarge.
func RecordSize(r *Record) (uint64, error) {
	p, err := marshalRecord(atOffset(r, math.MaxUint64))
	if err != nil {
		return 0, err
	}
	return frameHeaderSize + uint64(len(p)), nil
}

// StoreLimit returns the most bytes a segment's store file holds under c:
// c.Segment.MaxStoreBytes, or its default when it is 0.
func (c Config) StoreLimit() uint64 {
	if c.Segment.MaxStoreBytes == 0 {
		return defaultMaxStoreBytes
	}
	return c.Segment.MaxStoreBytes
}

// SyncDir flushes dir to stable storage, so that files created in it, renamed or
// removed stay so after a power loss.
func SyncDir(dir string) error {
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// AfterEachStep makes l call step after each change to its files that TruncateFrom and
// RestartAt make, with what was done (for example "removed segment 0"). It exists for
// crash tests, which copy the directory in step to see what a crash at that moment
// leaves; a server never sets it. Call it before l is used by other goroutines.
func (l *Log) AfterEachStep(step func(done string)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.afterStep = step
}
