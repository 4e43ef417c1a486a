package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A Scanner decodes the stream written by Log.Reader back into records, one at a time,
// checking each frame's checksum:
//
//	s := log.NewScanner(l.Reader())
//	for s.Scan() {
//		r := s.Record()
//		...
//	}
//	if err := s.Err(); err != nil { ... }
//
// A Scanner is for one goroutine.
type Scanner struct {
	r       *bufio.Reader
	payload bytes.Buffer // reused for every frame
	record  *Record
	read    uint64 // bytes of the stream consumed, for error messages
	err     error
}

// NewScanner returns a Scanner reading from r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: bufio.NewReader(r)}
}

// Scan decodes the next record, which Record then returns. It returns false at the end
// of the stream or on an error, which Err then returns.
func (s *Scanner) Scan() bool {
	if s.err != nil {
		return false
	}
	s.record = nil
	var header [frameHeaderSize]byte
	switch _, err := io.ReadFull(s.r, header[:]); {
	case err == io.EOF: // the stream ends between two frames, as it should
		return false
	case err == io.ErrUnexpectedEOF:
		return s.corrupt(errors.New("the stream ends inside a frame header"))
	case err != nil:
		return s.fail(err)
	}
	length := binary.BigEndian.Uint32(header[:frameLengthSize])
	s.payload.Reset()
	// CopyN grows the buffer as bytes arrive, so a damaged length asking for gigabytes
	// costs no more memory than the stream really holds.
	switch _, err := io.CopyN(&s.payload, s.r, int64(length)); {
	case err == io.EOF:
		return s.corrupt(fmt.Errorf("the stream ends inside a frame of %d bytes", length))
	case err != nil:
		return s.fail(err)
	}
	if frameChecksum(header[:frameLengthSize], s.payload.Bytes()) != binary.BigEndian.Uint32(header[frameLengthSize:]) {
		return s.corrupt(errors.New("checksum mismatch"))
	}
	r, err := unmarshalRecord(s.payload.Bytes())
	if err != nil {
		return s.corrupt(err)
	}
	s.record = r
	s.read += frameHeaderSize + uint64(length)
	return true
}

// corrupt stops scanning because the stream holds something Log.Reader does not write.
func (s *Scanner) corrupt(reason error) bool {
	s.err = fmt.Errorf("scan frame at byte %d: %w: %w", s.read, ErrCorrupt, reason)
	return false
}

// fail stops scanning because the underlying reader failed.
func (s *Scanner) fail(err error) bool {
	s.err = fmt.Errorf("scan frame at byte %d: %w", s.read, err)
	return false
}

// Record returns the record decoded by the last successful Scan. The caller owns it.
func (s *Scanner) Record() *Record {
	return s.record
}

// Err returns the error that stopped Scan, or nil if it stopped at the end of the
// stream. Damaged data gives an error wrapping ErrCorrupt.
func (s *Scanner) Err() error {
	return s.err
}
