// Package log is a commit log: an append-only sequence of records, each with an offset
// one higher than the one before, kept in files in one directory.
//
// # The problem
//
// A log is written at one end and read anywhere. Writing must be a cheap append;
// reading the record at any offset must not mean reading everything before it; old
// records must be removable without rewriting the rest; and a crash must not lose or
// garble what was acknowledged.
//
// # The pieces
//
// A record is a value (bytes) and the offset the log gave it (see Record). Its encoded
// form is the payload of a frame.
//
// A store is a file of frames, appended one after the other. Each frame carries its
// payload's length and a checksum, so a reader knows where the frame ends and can tell a
// damaged frame from a good one:
//
//	[length uint32][crc uint32][payload: length bytes]   big-endian
//
// crc is the CRC-32C (Castagnoli) of the 4 length bytes followed by the payload.
//
// An index is a file of fixed-width entries, one per record, that says where each
// record's frame starts in the store, so that reading offset n is one lookup and one
// read. It is memory-mapped: a lookup is a read from memory.
//
//	[relative offset uint32][position in the store uint64]   12 bytes, big-endian
//
// A segment is a store and its index, holding the records from its base offset on. The
// files are named after that base offset.
//
// The log is a list of segments. Only the last, the active segment, is appended to.
// When the next record would take its store past Config.Segment.MaxStoreBytes, or its
// index past Config.Segment.MaxIndexBytes, the log first rolls: it starts a new segment
// whose base offset is the next offset. Removing old records is deleting whole old
// segments (Truncate).
//
// # On disk
//
// A log whose segments roll every three records, holding offsets 0 to 6:
//
//	dir/
//	  LOCK                          flock'ed by the Log that has the directory open
//
//	  00000000000000000000.index        00000000000000000000.store
//	  +-----+----------+                 +-----+-----+-----------------------+
//	  |   0 |        0 | ------> byte  0 | len | crc | payload of record 0   |
//	  |   1 |       27 | ------> byte 27 | len | crc | payload of record 1  |
//	  |   2 |       51 | ------> byte 51 | len | crc | payload of record 2     |
//	  +-----+----------+                 +-----+-----+-----------------------+
//	    rel   position
//
//	  00000000000000000003.index        00000000000000000003.store    offsets 3, 4, 5
//	  00000000000000000006.index        00000000000000000006.store    offset 6: the active segment
//
// # Guarantees
//
// Append writes the record's frame to the store with one write call, then its index
// entry. When Append returns, the record is in the operating system's hands: it
// survives the process crashing. Sync flushes to the disk (fsync) the store of every
// segment written since the last Sync, so that the records survive a power loss too;
// Close does the same.
//
// The store is the truth; the index is derived from it. NewLog reads every store and
// checks every frame's checksum, and rebuilds each index from the frames it finds, so an
// index left at its pre-allocated size by a crash, or pointing past the end of its store,
// is never trusted. Opening is therefore a read of the whole log. It is also why Sync
// does not flush the indexes: what they hold on disk never matters.
//
// A write cut short by a crash leaves a torn tail: a last frame that is incomplete or
// fails its checksum, possibly followed by garbage or zeros; after a power loss, also a
// new segment whose records never reached the disk. NewLog finds where the intact part
// of the log ends, at the first damaged frame or at the first segment that does not
// start where the one before it ends. If no intact frame follows, anywhere, NewLog
// removes that tail (it cuts the damaged segment and deletes the empty segments after
// it), logging a warning. If an intact frame follows, this is not what a crash does:
// NewLog refuses to open with ErrCorrupt and changes no file, rather than guess and drop
// good records. Reads check the checksum again, so a frame damaged later gives
// ErrCorrupt, never wrong bytes.
//
// Only one Log at a time may have a directory open: NewLog takes an exclusive lock on
// the LOCK file, which the kernel releases if the process dies.
//
// # Limits
//
// A segment holds at most 2^32 records (the relative offset is 32 bits), and a record's
// payload at most Config.Segment.MaxStoreBytes minus the 8-byte frame header. Every
// segment keeps two open files and a memory mapping until Close. The package builds on
// Unix systems that github.com/tysonmote/gommap supports (Linux, macOS, FreeBSD).
package log
