package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A command is what a Raft log entry asks the state machine to do. Every entry the
// DistributedLog proposes holds one, encoded as below; all numbers big-endian.
//
//	byte 0   commandVersion
//	byte 1   commandType
//	...      the command
//
// appendCommand appends batches of records. Each batch comes from one producer and is
// applied whole or not at all (a batch that repeats one already applied is skipped,
// see producers):
//
//	time      int64   the leader's clock when it proposed the entry (Unix ns): every
//	                  record of the entry gets it as TimeUnixNano, on every server
//	batches   uint32
//	  producer  uint16 length, then the producer's ID (empty: no deduplication)
//	  flags     byte: batchOrdered (the sequence number must follow the previous one)
//	  sequence  uint64
//	  records   uint32
//	    value   uint32 length, then the value
//
// truncateCommand removes the records below an offset (retention):
//
//	lowest    uint64
type commandType byte

const (
	commandVersion = 1

	appendCommand   commandType = 1
	truncateCommand commandType = 2
)

// Sizes of an appendCommand's parts: the command's header (version, type, time,
// batches), a batch's header without its producer ID (its length, the sequence number,
// the records), and a value's header (its length).
const (
	commandHeaderSize = 2 + 8 + 4
	batchHeaderSize   = 2 + 1 + 8 + 4
	valueHeaderSize   = 4
)

// errBadCommand is wrapped by the errors decodeCommand returns.
var errBadCommand = errors.New("malformed command")

// A batch is records from one producer, appended together at consecutive offsets.
type batch struct {
	producer string // "" when the batch is not idempotent
	ordered  bool   // the sequence number must follow the producer's previous one
	sequence uint64
	values   [][]byte
}

// batchOrdered is the flag of an ordered batch.
const batchOrdered byte = 1

// An appendCmd is a decoded appendCommand.
type appendCmd struct {
	time    int64
	batches []batch
}

// encodeAppend returns the entry data of an appendCommand.
func encodeAppend(time int64, batches []batch) ([]byte, error) {
	size := commandHeaderSize
	for _, b := range batches {
		if len(b.producer) > math.MaxUint16 {
			return nil, fmt.Errorf("producer ID of %d bytes: at most %d", len(b.producer), math.MaxUint16)
		}
		size += batchHeaderSize + len(b.producer)
		for _, v := range b.values {
			size += valueHeaderSize + len(v)
		}
	}
	p := make([]byte, 0, size)
	p = append(p, commandVersion, byte(appendCommand))
	p = binary.BigEndian.AppendUint64(p, uint64(time))
	p = binary.BigEndian.AppendUint32(p, uint32(len(batches)))
	for _, b := range batches {
		p = binary.BigEndian.AppendUint16(p, uint16(len(b.producer)))
		p = append(p, b.producer...)
		var flags byte
		if b.ordered {
			flags |= batchOrdered
		}
		p = append(p, flags)
		p = binary.BigEndian.AppendUint64(p, b.sequence)
		p = binary.BigEndian.AppendUint32(p, uint32(len(b.values)))
		for _, v := range b.values {
			p = binary.BigEndian.AppendUint32(p, uint32(len(v)))
			p = append(p, v...)
		}
	}
	return p, nil
}

// encodeTruncate returns the entry data of a truncateCommand.
func encodeTruncate(lowest uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{commandVersion, byte(truncateCommand)}, lowest)
}

// commandOf returns the type of the command in data, checking its version.
func commandOf(data []byte) (commandType, error) {
	if len(data) < 2 {
		return 0, fmt.Errorf("%d bytes: %w", len(data), errBadCommand)
	}
	if data[0] != commandVersion {
		return 0, fmt.Errorf("command version %d, want %d: %w", data[0], commandVersion, errBadCommand)
	}
	return commandType(data[1]), nil
}

// decodeAppend decodes an appendCommand. The values share data's memory.
func decodeAppend(data []byte) (appendCmd, error) {
	if typ, err := commandOf(data); err != nil || typ != appendCommand {
		return appendCmd{}, fmt.Errorf("not an append command: %w", errBadCommand)
	}
	d := decoder{b: data[2:]}
	cmd := appendCmd{time: int64(d.uint64())}
	n := d.uint32()
	if d.err == nil && uint64(n) > uint64(len(d.b)) { // each batch takes more than a byte
		d.fail()
	}
	for range n {
		if d.err != nil {
			break
		}
		b := batch{producer: string(d.bytes(int(d.uint16())))}
		flags := d.byte()
		if flags&^batchOrdered != 0 {
			d.fail()
		}
		b.ordered = flags&batchOrdered != 0
		b.sequence = d.uint64()
		records := d.uint32()
		if d.err == nil && uint64(records)*4 > uint64(len(d.b)) {
			d.fail()
		}
		for range records {
			if d.err != nil {
				break
			}
			b.values = append(b.values, d.bytes(int(d.uint32())))
		}
		cmd.batches = append(cmd.batches, b)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return appendCmd{}, fmt.Errorf("append command of %d bytes: %w", len(data), d.err)
	}
	return cmd, nil
}

// decodeTruncate decodes a truncateCommand.
func decodeTruncate(data []byte) (uint64, error) {
	if typ, err := commandOf(data); err != nil || typ != truncateCommand || len(data) != 2+8 {
		return 0, fmt.Errorf("truncate command of %d bytes: %w", len(data), errBadCommand)
	}
	return binary.BigEndian.Uint64(data[2:]), nil
}

// A decoder reads big-endian fields off the front of b. The first field that does not
// fit sets err; every read after that returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errBadCommand, nil }

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) uint16() uint16 {
	if p := d.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) bytes(n int) []byte { return d.take(n) }
