package storage

import "os"

// Disk is where the log's durability is decided: every flush to stable storage that
// this package does goes through it, and nothing else does. What a power loss keeps is
// exactly what was flushed, so a test can put a Disk here that records each flush and
// then shows what a real disk might have kept at any moment: everything flushed, plus
// any part, in any order, of what was written after (see powerloss_test.go).
//
// The zero Config uses the operating system's: fsync.
type Disk interface {
	// SyncFile flushes f's data and size to stable storage (fsync). Writes to a memory
	// mapping of f are flushed with it on Linux; callers that map a file msync first.
	SyncFile(f *os.File) error
	// SyncDir flushes the entries of directory dir, so that files created, renamed or
	// removed in it stay so.
	SyncDir(dir string) error
}

// osDisk is the Disk of a real log: fsync.
type osDisk struct{}

func (osDisk) SyncFile(f *os.File) error { return f.Sync() }
func (osDisk) SyncDir(dir string) error  { return syncDir(dir) }
