package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
)

// A store file is a sequence of frames, one per record, each written with one write
// call and never changed afterwards:
//
//	 0        4        8
//	+--------+--------+--------------------------+
//	| length | crc    | payload (length bytes)   |  frame 0
//	+--------+--------+--------------------------+
//	| length | crc    | payload                  |  frame 1
//	+--------+--------+--------------------------+
//	...
//
// length is the payload's size and crc the CRC-32C (Castagnoli) of the length field
// followed by the payload, both 4 bytes, big-endian. The checksum covers the length so
// that a damaged length is caught too, and so that a run of zero bytes (what a file can
// end with after a power loss) never reads as a valid empty frame.
const (
	frameLengthSize = 4
	frameCRCSize    = 4
	frameHeaderSize = frameLengthSize + frameCRCSize

	// maxPayloadSize is the largest payload a 32-bit length field can describe.
	maxPayloadSize = math.MaxUint32

	// scanBufferSize is the read buffer used when scanning a store file on open.
	scanBufferSize = 64 << 10

	// maxRetainedFrameBuffer bounds the frame buffer a log keeps between batches: the
	// largest Raft entry's records (256 KiB of values) fit, so that a busy log does not
	// allocate a buffer for every batch.
	maxRetainedFrameBuffer = 1 << 20

	// maxRecordOverhead is the most a record's encoding adds to its value: the tags,
	// the value's length, and the offset, time and Raft index at their largest.
	maxRecordOverhead = 4 + 5 + 3*10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameChecksum returns the crc field of a frame with this length field and payload.
func frameChecksum(lengthField, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(lengthField, castagnoli), castagnoli, payload)
}

// decodeFrame checks that frame is exactly one whole, intact frame and returns its
// payload, which shares frame's memory. ok is false for anything else.
func decodeFrame(frame []byte) (payload []byte, ok bool) {
	if len(frame) < frameHeaderSize {
		return nil, false
	}
	length, crc := frame[:frameLengthSize], frame[frameLengthSize:frameHeaderSize]
	payload = frame[frameHeaderSize:]
	if uint64(binary.BigEndian.Uint32(length)) != uint64(len(payload)) ||
		binary.BigEndian.Uint32(crc) != frameChecksum(length, payload) {
		return nil, false
	}
	return payload, true
}

// A store is the file of a segment that holds the records: frames appended one after
// the other.
//
// A store has no lock of its own. The Log's mutex serialises append and cut with
// everything else; read only uses ReadAt and may run concurrently with other reads.
type store struct {
	file *os.File

	// size is where the last whole frame ends: the next frame goes there. Once the store
	// is open, the file holds exactly size bytes.
	size uint64

	// buf is reused by append to build a frame, so that a frame is one write call.
	buf []byte
}

// createStore creates the store file at path, which must not exist yet.
func createStore(path string) (*store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &store{file: f}, nil
}

// openStore opens an existing store file. Its size is 0 until scan and cut have run.
func openStore(path string) (*store, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &store{file: f}, nil
}

// A scanResult is what scan found in a store file.
type scanResult struct {
	positions []uint64 // where each intact frame starts, in order; nil when sealed
	end       uint64   // where the last intact frame ends
	fileSize  uint64   // the file's size; end < fileSize means the file has a damaged tail

	// sealed is the number of records of a sealed segment whose index file checkSealed
	// found consistent with the store: the frames were not read one by one, and the index
	// is used as it is. 0 otherwise.
	sealed uint64
}

// records returns the number of intact records found.
func (r scanResult) records() uint64 {
	if r.sealed > 0 {
		return r.sealed
	}
	return uint64(len(r.positions))
}

// scan reads the store file from the start, checking every frame, and reports where the
// intact frames are. It only reads: cutting a damaged tail is the caller's decision.
//
// Scanning stops at the first frame that is incomplete or fails its checksum. If an
// intact frame starts anywhere after it, the damage is in the middle of the data and
// scan returns an error wrapping ErrCorrupt. Otherwise the damaged frame and everything
// after it is a torn tail: result.end < result.fileSize.
func (s *store) scan() (scanResult, error) {
	info, err := s.file.Stat()
	if err != nil {
		return scanResult{}, err
	}
	size := uint64(info.Size())
	r := bufio.NewReaderSize(io.NewSectionReader(s.file, 0, int64(size)), scanBufferSize)
	scratch := make([]byte, scanBufferSize)

	result := scanResult{fileSize: size}
	for result.end < size {
		n, err := readFrame(r, size-result.end, scratch)
		if err != nil {
			return scanResult{}, fmt.Errorf("read frame at byte %d: %w", result.end, err)
		}
		if n == 0 {
			break
		}
		result.positions = append(result.positions, result.end)
		result.end += n
	}
	if result.end == size {
		return result, nil
	}
	intact, err := s.intactFrameAfter(result.end, size, scratch)
	if err != nil {
		return scanResult{}, fmt.Errorf("look for intact frames after byte %d: %w", result.end, err)
	}
	if intact {
		return scanResult{}, fmt.Errorf("frame %d at byte %d is damaged, and intact frames follow it: %w",
			len(result.positions), result.end, ErrCorrupt)
	}
	return result, nil
}

// readFrame reads one frame from r and checks it. remaining is how many bytes r has
// left. It returns the frame's size, header included, or 0 if the frame is incomplete or
// fails its checksum. An error means the file could not be read. scratch is a buffer
// readFrame may use.
func readFrame(r io.Reader, remaining uint64, scratch []byte) (uint64, error) {
	if remaining < frameHeaderSize {
		return 0, nil
	}
	var header [frameHeaderSize]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return 0, err
	}
	length := uint64(binary.BigEndian.Uint32(header[:frameLengthSize]))
	if length > remaining-frameHeaderSize {
		return 0, nil
	}
	crc := crc32.Checksum(header[:frameLengthSize], castagnoli)
	for left := length; left > 0; {
		chunk := scratch[:min(left, uint64(len(scratch)))]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return 0, err
		}
		crc = crc32.Update(crc, castagnoli, chunk)
		left -= uint64(len(chunk))
	}
	if crc != binary.BigEndian.Uint32(header[frameLengthSize:]) {
		return 0, nil
	}
	return frameHeaderSize + length, nil
}

// intactFrameAfter reports whether an intact frame starts at any byte after pos in a
// file of size bytes. It is how scan tells a torn tail (nothing intact after the damage)
// from damage in the middle of the data.
func (s *store) intactFrameAfter(pos, size uint64, scratch []byte) (bool, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.file, int64(pos+1), int64(size-pos-1)), scanBufferSize)
	for at := pos + 1; size-at >= frameHeaderSize; at++ {
		header, err := r.Peek(frameHeaderSize)
		if err != nil {
			return false, err
		}
		length := uint64(binary.BigEndian.Uint32(header))
		if length <= size-at-frameHeaderSize {
			var n uint64
			if frameHeaderSize+length <= scanBufferSize {
				// The whole candidate frame is in the read buffer.
				frame, err := r.Peek(int(frameHeaderSize + length))
				if err != nil {
					return false, err
				}
				if _, ok := decodeFrame(frame); ok {
					n = frameHeaderSize + length
				}
			} else {
				n, err = readFrame(io.NewSectionReader(s.file, int64(at), int64(size-at)), size-at, scratch)
				if err != nil {
					return false, err
				}
			}
			if n > 0 {
				return true, nil
			}
		}
		if _, err := r.Discard(1); err != nil {
			return false, err
		}
	}
	return false, nil
}

// cut shrinks the file to end, removing a torn tail, and makes that durable.
func (s *store) cut(end uint64, disk Disk) error {
	if err := s.file.Truncate(int64(end)); err != nil {
		return err
	}
	s.size = end
	return disk.SyncFile(s.file)
}

// append writes payload as a new frame at the end of the store and returns the frame's
// position. When it returns the frame is in the operating system's page cache: it
// survives the process crashing, and survives a power loss once sync has returned.
// The caller has checked that the payload fits in a frame.
func (s *store) append(payload []byte) (pos uint64, err error) {
	n := frameHeaderSize + len(payload)
	s.buf = slices.Grow(s.buf[:0], n)[:n]
	binary.BigEndian.PutUint32(s.buf[:frameLengthSize], uint32(len(payload)))
	copy(s.buf[frameHeaderSize:], payload)
	binary.BigEndian.PutUint32(s.buf[frameLengthSize:], frameChecksum(s.buf[:frameLengthSize], payload))
	_, err = s.file.WriteAt(s.buf, int64(s.size))
	if cap(s.buf) > maxRetainedFrameBuffer {
		s.buf = nil
	}
	if err != nil {
		// Part of the frame may have been written: cut it, so that the next frame starts
		// where it should.
		return 0, errors.Join(err, s.file.Truncate(int64(s.size)))
	}
	pos = s.size
	s.size += uint64(n)
	return pos, nil
}

// appendFrames writes frames, one or more whole frames, at the end of the store with
// one write call, and returns the position of the first. Like append, it cuts off a
// partial write on error.
func (s *store) appendFrames(frames []byte) (pos uint64, err error) {
	if _, err := s.file.WriteAt(frames, int64(s.size)); err != nil {
		return 0, errors.Join(err, s.file.Truncate(int64(s.size)))
	}
	pos = s.size
	s.size += uint64(len(frames))
	return pos, nil
}

// read reads the frame that occupies bytes [pos, end) of the file, checks it, and
// returns its payload. The caller owns the payload.
func (s *store) read(pos, end uint64) ([]byte, error) {
	if pos >= end || end > s.size {
		return nil, fmt.Errorf("frame at byte %d: bounds [%d, %d) outside the store's %d bytes: %w",
			pos, pos, end, s.size, ErrCorrupt)
	}
	frame, err := s.readRange(pos, end)
	if err != nil {
		return nil, err
	}
	payload, ok := decodeFrame(frame)
	if !ok {
		return nil, fmt.Errorf("frame at byte %d: damaged: %w", pos, ErrCorrupt)
	}
	return payload, nil
}

// readRange reads bytes [pos, end) of the store file, which the caller has checked are
// within the store's size.
func (s *store) readRange(pos, end uint64) ([]byte, error) {
	b := make([]byte, end-pos)
	if _, err := s.file.ReadAt(b, int64(pos)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("frame at byte %d: store file is shorter than %d bytes: %w", pos, end, ErrCorrupt)
		}
		return nil, fmt.Errorf("frame at byte %d: %w", pos, err)
	}
	return b, nil
}

// close closes the file. It does not flush: the caller syncs first if it needs to.
func (s *store) close() error {
	return s.file.Close()
}

// FrameOverhead is what a frame adds to its payload: the length and the checksum.
const FrameOverhead = frameHeaderSize

// EncodeFrame returns payload framed as a store frames it: its length, a CRC-32C of the
// length and the payload, and the payload. Small files that must be checked on read,
// like the Raft log store's first index, use it too.
func EncodeFrame(payload []byte) []byte {
	b := make([]byte, frameHeaderSize, frameHeaderSize+len(payload))
	binary.BigEndian.PutUint32(b[:frameLengthSize], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[frameLengthSize:], frameChecksum(b[:frameLengthSize], payload))
	return append(b, payload...)
}

// DecodeFrame returns the payload of frame, which must be exactly one whole, intact
// frame; ok is false for anything else. The payload shares frame's memory.
func DecodeFrame(frame []byte) (payload []byte, ok bool) {
	return decodeFrame(frame)
}
