package log

import (
	"encoding/binary"
	"errors"
)

// A Record is one entry of the log: the bytes a client appended and the offset the log
// gave them. The log does not look inside Value.
type Record struct {
	Value  []byte
	Offset uint64
}

// This file is the only one that knows how a Record is encoded. The rest of the package
// stores and checks opaque payloads, so the encoding can change here alone.
//
// The encoding: the offset as 8 bytes, big-endian, then the value.
//
//	+----------------+----------------------+
//	| offset (8, BE) | value (the rest)     |
//	+----------------+----------------------+

const recordOffsetSize = 8

// marshalRecord encodes r as the payload of one store frame.
func marshalRecord(r *Record) ([]byte, error) {
	p := make([]byte, recordOffsetSize+len(r.Value))
	binary.BigEndian.PutUint64(p, r.Offset)
	copy(p[recordOffsetSize:], r.Value)
	return p, nil
}

// unmarshalRecord decodes a payload written by marshalRecord. The record does not share
// memory with p, so the caller may reuse p.
func unmarshalRecord(p []byte) (*Record, error) {
	if len(p) < recordOffsetSize {
		return nil, errors.New("record shorter than its offset field")
	}
	return &Record{
		Value:  append([]byte{}, p[recordOffsetSize:]...),
		Offset: binary.BigEndian.Uint64(p),
	}, nil
}

// atOffset returns a copy of r with its offset set to off. r is not modified; the copy
// shares r's Value.
func atOffset(r *Record, off uint64) *Record {
	return &Record{Value: r.Value, Offset: off}
}
