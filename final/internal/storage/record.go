package storage

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	api "golog/api/v1"
)

// A Record is one entry of the log: the bytes a client appended and the offset the log
// gave them, with the time and the Raft index a replicated log records. The log does
// not look inside Value.
//
// It is the protobuf message log.v1.Record of api/v1/log.proto, so a record has the same
// bytes on disk as on the wire, and every program that has the .proto file can read it.
type Record = api.Record

// This file is the only one that knows how a Record is encoded. The rest of the package
// stores and checks opaque payloads, so the encoding can change here alone.
//
// The encoding: the protobuf wire format of log.v1.Record. A record with value "AA" at
// offset 5 is six bytes:
//
//	0a 02 41 41   field 1 (value), length-delimited, 2 bytes: "AA"
//	10 05         field 2 (offset), varint: 5
//
// Fields 4 (time_unix_nano) and 5 (raft_index) follow when they are set.

// marshalRecord encodes r as the payload of one store frame.
func marshalRecord(r *Record) ([]byte, error) {
	p, err := proto.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return p, nil
}

// appendRecordAt appends the payload of r at offset off, as marshalRecord(atOffset(r,
// off)) encodes it, to dst, using scratch (which it overwrites) instead of a new
// Record. r is not modified.
func appendRecordAt(dst []byte, r *Record, off uint64, scratch *Record) ([]byte, error) {
	scratch.Value, scratch.Offset, scratch.TimeUnixNano, scratch.RaftIndex = r.Value, off, r.TimeUnixNano, r.RaftIndex
	b, err := proto.MarshalOptions{}.MarshalAppend(dst, scratch)
	scratch.Value = nil // the caller's memory
	if err != nil {
		return dst, fmt.Errorf("encode record: %w", err)
	}
	return b, nil
}

// unmarshalRecord decodes a payload written by marshalRecord. The record does not share
// memory with p, so the caller may reuse p.
func unmarshalRecord(p []byte) (*Record, error) {
	r := &Record{}
	if err := proto.Unmarshal(p, r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return r, nil
}

// atOffset returns a copy of r with its offset set to off. r is not modified; the copy
// shares r's Value.
func atOffset(r *Record, off uint64) *Record {
	return &Record{Value: r.Value, Offset: off, TimeUnixNano: r.TimeUnixNano, RaftIndex: r.RaftIndex}
}

// RecordFrameSize returns the most bytes r can take in a store, whatever offset the log
// gives it: the frame's header and the record encoded with every field the log sets at
// its largest. A record is refused with ErrRecordTooLarge when this is more than
// Config.Segment.MaxStoreBytes.
func RecordFrameSize(r *Record) (uint64, error) {
	largest := &Record{Value: r.Value, Offset: math.MaxUint64, TimeUnixNano: math.MinInt64, RaftIndex: math.MaxUint64}
	return frameHeaderSize + uint64(proto.Size(largest)), nil // the size, without encoding a copy
}
