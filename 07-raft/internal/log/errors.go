package log

import (
	"errors"
	"fmt"
)

// Errors returned by the log. They are wrapped with context (which file, which offset),
// so compare with errors.Is, not ==.
var (
	// ErrEmpty is returned by HighestOffset when the log holds no record.
	ErrEmpty = errors.New("log: the log is empty")

	// ErrCorrupt reports data on disk that is not what the log wrote: a frame whose
	// checksum does not match, whose length points past the end of its file, or whose
	// payload does not decode to the record it should hold. The log returns it instead
	// of the data, never wrong bytes.
	//
	// NewLog returns it when intact records follow a damaged frame, or a gap between
	// segments; damage with nothing intact after it is a torn write, which is cut
	// instead (see the package documentation). Read returns it for a frame damaged after
	// the log was opened, and Scanner for a damaged stream.
	ErrCorrupt = errors.New("log: corrupt data")

	// ErrInUse is returned by NewLog when another Log, in this process or another one,
	// has the directory open.
	ErrInUse = errors.New("log: directory is in use by another Log")

	// ErrClosed is returned by the methods of a Log after Close (or Remove), and by a
	// Reader whose segment was closed by Close, Truncate or Reset before it was read.
	ErrClosed = errors.New("log: closed")

	// ErrRecordTooLarge is returned by Append when the record would not fit even in an
	// empty segment (Config.Segment.MaxStoreBytes). Nothing is written.
	ErrRecordTooLarge = errors.New("log: record too large")
)

// ErrOffsetOutOfRange is returned by Read when no record has the offset asked for: it is
// below the lowest offset (never written, or removed by Truncate) or not written yet.
// Find it with errors.As or errors.AsType:
//
//	if e, ok := errors.AsType[log.ErrOffsetOutOfRange](err); ok {
//		// e.Offset was asked for; the log held [e.Lowest, e.Next)
//	}
type ErrOffsetOutOfRange struct {
	Offset uint64 // the offset asked for
	Lowest uint64 // the log's lowest offset at the time
	Next   uint64 // the log's next offset at the time; the log held offsets [Lowest, Next)
}

func (e ErrOffsetOutOfRange) Error() string {
	if e.Lowest == e.Next {
		return fmt.Sprintf("log: offset %d is out of range: the log is empty, the next record gets offset %d",
			e.Offset, e.Next)
	}
	return fmt.Sprintf("log: offset %d is out of range: the log holds offsets %d to %d",
		e.Offset, e.Lowest, e.Next-1)
}
