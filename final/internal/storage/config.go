package storage

import (
	"fmt"
	"log/slog"
	"math"
)

// Defaults for the Config fields left at zero.
const (
	defaultMaxStoreBytes = 64 << 20 // 64 MiB
	defaultMaxIndexBytes = 12 << 20 // 12 MiB: 1048576 index entries
)

// Config configures a Log. The zero value is usable.
type Config struct {
	Segment SegmentConfig

	// Disk flushes files and directories to stable storage. nil means the operating
	// system's (fsync); tests put a simulated power loss here.
	Disk Disk

	// Logger receives the log's diagnostics: Debug lines when a segment is rolled or an
	// index is rebuilt, a Warn line when a torn tail is cut. nil discards them.
	Logger *slog.Logger
}

// SegmentConfig sets the size of a Log's segments.
type SegmentConfig struct {
	// MaxStoreBytes is the most bytes a segment's store file holds: a segment is
	// rolled before an append that would take it past this size. A record whose frame
	// alone is larger is refused with ErrRecordTooLarge. 0 means 64 MiB.
	MaxStoreBytes uint64

	// MaxIndexBytes is the most bytes a segment's index file holds, and so bounds the
	// number of records per segment: MaxIndexBytes/12 (12 is the width of an index
	// entry; the size is rounded down to whole entries). 0 means 12 MiB (1048576
	// records; the active segment's index file takes that much disk). A non-zero
	// value below 12 is an error.
	MaxIndexBytes uint64

	// InitialOffset is the offset of the first record of a new, empty log, and of the
	// first record after Reset. It is ignored when the directory already holds
	// segments: their offsets win.
	InitialOffset uint64
}

// maxEntriesPerSegment is the most records one segment can hold whatever its
// configuration: an index entry stores the record's offset relative to the segment's base
// offset in 32 bits.
const maxEntriesPerSegment = math.MaxUint32 + 1

// WithDefaults returns c with the zero fields set to their defaults, MaxIndexBytes
// rounded down to whole index entries, and Logger set, or an error for a Config that
// NewLog would refuse.
func (c Config) WithDefaults() (Config, error) {
	return c.withDefaults()
}

// withDefaults does the work of WithDefaults.
func (c Config) withDefaults() (Config, error) {
	if c.Segment.MaxStoreBytes == 0 {
		c.Segment.MaxStoreBytes = defaultMaxStoreBytes
	}
	if c.Segment.MaxIndexBytes == 0 {
		c.Segment.MaxIndexBytes = defaultMaxIndexBytes
	}
	if c.Segment.MaxIndexBytes < entryWidth {
		return c, fmt.Errorf("log: Config.Segment.MaxIndexBytes is %d, less than one %d-byte index entry",
			c.Segment.MaxIndexBytes, entryWidth)
	}
	entries := min(c.Segment.MaxIndexBytes/entryWidth, maxEntriesPerSegment)
	c.Segment.MaxIndexBytes = entries * entryWidth
	if c.Disk == nil {
		c.Disk = osDisk{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// maxEntries returns how many records a segment holds at most. c must come from
// withDefaults.
func (c Config) maxEntries() uint64 {
	return c.Segment.MaxIndexBytes / entryWidth
}
