package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"golog/internal/log"
)

// commandType is the first byte of a command in a Raft log entry; what follows depends
// on it.
type commandType byte

// appendCommand appends a record to the log. The rest of the entry is the record in
// protobuf, as the log stores it; its offset is not sent.
//
//	+---------------+------------------------+
//	| appendCommand | encoded record         |
//	+---------------+------------------------+
const appendCommand commandType = 0

// encodeAppend returns the command that appends r. r's offset is not sent.
func encodeAppend(r *log.Record) ([]byte, error) {
	p, err := proto.Marshal(&log.Record{Value: r.Value})
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return append([]byte{byte(appendCommand)}, p...), nil
}

// fsm is the replicated state machine: the data log that clients read. Raft hands it
// every committed command, in the same order on every server, so every server's data
// log holds the same records at the same offsets (Raft paper §5.3, "state machine
// safety").
//
// # Applying once
//
// Raft does not remember what the state machine has applied: when a server starts, it
// restores the newest snapshot and then applies every committed entry after it again.
// Appending those to a data log that already holds them would duplicate records. So the
// data log is not kept across restarts: NewDistributedLog empties it, and Raft rebuilds
// it from the snapshot and the entries after it. The data log never needs fsync either;
// the Raft log and the snapshots are what is durable.
//
// # Knowing how far it got
//
// While the data log is being rebuilt, a read of a record the server had before it
// stopped would answer "not written yet": the wrong answer to a client that was told
// the record is there. So the fsm counts the Raft index of the last command it applied
// (appliedIndex), and DistributedLog serves no reads until that index reaches what the
// cluster had committed (see DistributedLog.Read). A Restore empties the data log too,
// so reads wait while one runs (restoring).
//
// # Snapshots
//
// Raft calls Snapshot on the goroutine that calls Apply, so nothing is appended
// meanwhile, and then Persist on another goroutine while Apply goes on. Snapshot
// therefore only captures the data log's Reader, which covers the records as they are at
// that moment; Persist writes a header and those bytes:
//
//	+----------------+-----+-----------------+----------------+--------------+-------------------------+
//	| "golog-sn" (8) | ver | applied (8, BE) | lowest (8, BE) | next (8, BE) | Log.Reader stream:      |
//	|                | (1) |                 |                |              | [length|crc|record] ... |
//	+----------------+-----+-----------------+----------------+--------------+-------------------------+
//
// applied is the fsm's appliedIndex at that moment. lowest and next say which offsets
// follow ([lowest, next)), so Restore can check it got them all; every record carries
// its offset and a checksum.
//
// # Failures
//
// Every server must apply every command the same way. A command that cannot be decoded
// fails the same way everywhere, so Apply returns an error for it and goes on. A data
// log that fails to append (a full disk) fails on one server only: its records would
// shift to other offsets than the other servers'. The fsm then stops: Apply, Snapshot
// and DistributedLog.Read fail from then on, until a Restore succeeds or the server
// restarts and rebuilds the data log. The same holds for records too large for a
// segment, which is why every server must have the same Segment configuration.
type fsm struct {
	log *log.Log

	// applied is the Raft index of the last command Apply was given, whatever came of
	// it, or the one a restored snapshot recorded. Written by raft's FSM goroutine
	// only; read by anyone.
	applied atomic.Uint64
	// restoring is set while Restore replaces the data log.
	restoring atomic.Bool

	mu     sync.Mutex
	failed error // guarded by mu; set when the data log may differ from the others'
}

// appliedIndex returns the Raft index of the last command applied (see fsm).
func (f *fsm) appliedIndex() uint64 { return f.applied.Load() }

// err returns the error that stopped the fsm, or nil.
func (f *fsm) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// setErr records what stopped the fsm (nil: a Restore put it right again).
func (f *fsm) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = err
}

var _ raft.FSM = (*fsm)(nil)

// Apply runs a committed command. For appendCommand it returns the record's offset as a
// uint64, or an error; raft hands the value to the Append that proposed the command.
// An error is returned, not panicked: the entry is committed and stays in the Raft log,
// and every server fails it the same way.
func (f *fsm) Apply(entry *raft.Log) any {
	defer f.applied.Store(entry.Index)
	if err := f.err(); err != nil {
		return err
	}
	if entry.Type != raft.LogCommand || len(entry.Data) == 0 {
		return fmt.Errorf("raft entry %d is not a command (type %s, %d bytes)", entry.Index, entry.Type, len(entry.Data))
	}
	switch commandType(entry.Data[0]) {
	case appendCommand:
		r := &log.Record{}
		if err := proto.Unmarshal(entry.Data[1:], r); err != nil {
			return fmt.Errorf("raft entry %d: decode record: %w", entry.Index, err)
		}
		off, err := f.log.Append(r)
		if err != nil {
			err = fmt.Errorf("data log stopped at raft entry %d, restart the server to rebuild it: %w", entry.Index, err)
			f.setErr(err)
			return err
		}
		return off
	default:
		return fmt.Errorf("raft entry %d: unknown command type %d", entry.Index, entry.Data[0])
	}
}

// snapshotMagic starts every snapshot, and snapshotVersion follows it.
const (
	snapshotMagic      = "golog-sn"
	snapshotVersion    = 2
	snapshotHeaderSize = len(snapshotMagic) + 1 + 8 + 8 + 8
)

// Snapshot captures the data log as it is now. It does no I/O.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	header := make([]byte, 0, snapshotHeaderSize)
	header = append(header, snapshotMagic...)
	header = append(header, snapshotVersion)
	header = binary.BigEndian.AppendUint64(header, f.appliedIndex())
	// The log is not appended to while Snapshot runs (see fsm), so the offsets and the
	// reader describe the same records.
	header = binary.BigEndian.AppendUint64(header, f.log.LowestOffset())
	header = binary.BigEndian.AppendUint64(header, f.log.NextOffset())
	return &fsmSnapshot{header: header, records: f.log.Reader()}, nil
}

// fsmSnapshot is a snapshot of the data log, not yet written.
type fsmSnapshot struct {
	header  []byte
	records io.Reader
}

var _ raft.FSMSnapshot = (*fsmSnapshot)(nil)

// Persist writes the snapshot to sink and closes it, or cancels it on error. It fails
// if the data log is reset or closed before every record is read.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	_, err := sink.Write(s.header)
	if err == nil {
		_, err = io.Copy(sink, s.records)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("persist snapshot: %w", err), sink.Cancel())
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return nil
}

// Release is called when raft is done with the snapshot. It holds no resources.
func (s *fsmSnapshot) Release() {}

// Restore replaces the data log with the snapshot read from rc: it empties the log
// (Log.Reset) and appends every record, checking each one's offset and checksum. The
// snapshot must start at the data log's initial offset. If it fails, the fsm is stopped
// (see fsm) until a Restore succeeds.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.restoring.Store(true)
	defer f.restoring.Store(false)
	err := f.restore(rc)
	if err != nil {
		err = fmt.Errorf("restore snapshot: %w", err)
	}
	f.setErr(err)
	return err
}

func (f *fsm) restore(r io.Reader) error {
	header := make([]byte, snapshotHeaderSize)
	if _, err := io.ReadFull(r, header); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if string(header[:len(snapshotMagic)]) != snapshotMagic || header[len(snapshotMagic)] != snapshotVersion {
		return fmt.Errorf("not a golog snapshot of version %d: %w", snapshotVersion, log.ErrCorrupt)
	}
	fields := header[len(snapshotMagic)+1:]
	applied := binary.BigEndian.Uint64(fields)
	lowest := binary.BigEndian.Uint64(fields[8:])
	next := binary.BigEndian.Uint64(fields[16:])
	if next < lowest {
		return fmt.Errorf("header says offsets %d up to %d: %w", lowest, next, log.ErrCorrupt)
	}

	if err := f.log.Reset(); err != nil {
		return err
	}
	if got := f.log.NextOffset(); got != lowest {
		return fmt.Errorf("the snapshot starts at offset %d, this log at %d", lowest, got)
	}
	s := log.NewScanner(r)
	for s.Scan() {
		rec := s.Record()
		off, err := f.log.Append(rec)
		if err != nil {
			return err
		}
		if off != rec.Offset {
			return fmt.Errorf("record with offset %d was restored at offset %d: %w", rec.Offset, off, log.ErrCorrupt)
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	if got := f.log.NextOffset(); got != next {
		return fmt.Errorf("the snapshot ends before offset %d, at %d: %w", next, got, log.ErrCorrupt)
	}
	f.applied.Store(applied)
	return nil
}
