package storage_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
)

// powerDisk is a storage.Disk that remembers what each flush made durable, so that a
// test can cut the power at any moment and get the directory a real disk might then
// hold. The model, from weakest promise to strongest:
//
//   - A file's data and size are durable as they were at its last SyncFile. Whatever was
//     written after may be on the disk or not, in any part and any order: each 512-byte
//     sector of the file holds independently its durable content or its current one
//     (zeros where the file had none), and the file's size is its durable size, its
//     current size or anything between. That is dropped, reordered and torn writes at
//     once.
//   - A directory's entries are durable as they were at its last SyncDir. The changes
//     made after (files created, removed, renamed, linked) are all kept or all lost:
//     file systems journal them in order and commit them together.
//
// Writes through a memory mapping are seen as the file's content, like any write.
//
// Files are told apart by inode. The disk holds every file it has seen open, so that an
// inode is never reused under it and a removed file can still be read.
type powerDisk struct {
	t   testing.TB
	dir string // the log's directory: the one directory this disk models

	mu      sync.Mutex
	files   map[uint64]*heldFile // by inode
	entries map[string]uint64    // the directory's durable entries: name -> inode
	flushes int                  // SyncFile and SyncDir calls so far
	onFlush func(n int)          // called before the n-th flush takes effect
}

// heldFile is a file the disk has seen: an open descriptor and its durable content.
type heldFile struct {
	f       *os.File
	durable []byte // content at the last flush; nil if never flushed
}

var _ storage.Disk = (*powerDisk)(nil)

// newPowerDisk returns a disk for the log directory dir, taking what dir holds now as
// durable: the state after a clean shutdown.
func newPowerDisk(t testing.TB, dir string) *powerDisk {
	d := &powerDisk{t: t, dir: dir, files: make(map[uint64]*heldFile)}
	t.Cleanup(d.close)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries = d.listLocked()
	for _, ino := range d.entries {
		h := d.files[ino]
		h.durable = readAll(t, h.f)
	}
	return d
}

func (d *powerDisk) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range d.files {
		h.f.Close()
	}
	d.files = nil
}

// SyncFile makes f's content durable, after doing the real fsync.
func (d *powerDisk) SyncFile(f *os.File) error {
	d.flush()
	if err := f.Sync(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.holdLocked(f.Name(), f)
	h.durable = readAll(d.t, h.f)
	return nil
}

// SyncDir makes the directory's entries durable. Only the log's directory is modelled;
// a snapshot's directory is another file system as far as this test is concerned.
func (d *powerDisk) SyncDir(dir string) error {
	d.flush()
	if err := storage.SyncDir(dir); err != nil || dir != d.dir {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries = d.listLocked()
	return nil
}

// flush counts a flush and lets the test cut the power just before it.
func (d *powerDisk) flush() {
	d.mu.Lock()
	d.flushes++
	n, hook := d.flushes, d.onFlush
	d.mu.Unlock()
	if hook != nil {
		hook(n)
	}
}

// holdLocked returns the held file of the file open as f (or at path, if f is nil),
// holding it if it is new. The caller holds d.mu.
func (d *powerDisk) holdLocked(path string, f *os.File) *heldFile {
	var info os.FileInfo
	var err error
	if f != nil {
		info, err = f.Stat()
	} else {
		info, err = os.Lstat(path)
	}
	require.NoError(d.t, err)
	ino := info.Sys().(*syscall.Stat_t).Ino
	if h, ok := d.files[ino]; ok {
		return h
	}
	held, err := os.Open(path)
	if f != nil {
		fd, derr := syscall.Dup(int(f.Fd()))
		held, err = os.NewFile(uintptr(fd), path), derr
	}
	require.NoError(d.t, err)
	h := &heldFile{f: held}
	d.files[ino] = h
	return h
}

// listLocked returns the directory's entries as they are now, holding every file. The
// caller holds d.mu.
func (d *powerDisk) listLocked() map[string]uint64 {
	entries, err := os.ReadDir(d.dir)
	require.NoError(d.t, err)
	names := make(map[string]uint64, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(d.dir, e.Name())
		info, err := os.Lstat(path)
		require.NoError(d.t, err)
		ino := info.Sys().(*syscall.Stat_t).Ino
		d.holdLocked(path, nil)
		names[e.Name()] = ino
	}
	return names
}

// cut returns a new directory holding what the disk might hold if the power went off
// now, drawn with rng.
func (d *powerDisk) cut(rng *rand.Rand, to string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	entries := d.entries
	if rng.IntN(2) == 0 {
		entries = d.listLocked() // the directory's journal was committed
	}
	for name, ino := range entries {
		h := d.files[ino]
		content := tear(rng, h.durable, readAll(d.t, h.f))
		require.NoError(d.t, os.WriteFile(filepath.Join(to, name), content, 0o644))
	}
}

// sector is the unit a disk writes atomically.
const sector = 512

// tear returns what a file might hold after a power loss, given its durable content and
// its content now.
func tear(rng *rand.Rand, durable, now []byte) []byte {
	lo, hi := min(len(durable), len(now)), max(len(durable), len(now))
	size := hi
	switch rng.IntN(3) {
	case 0:
		size = len(durable)
	case 1:
		size = lo + rng.IntN(hi-lo+1)
	}
	out := make([]byte, size)
	for start := 0; start < size; start += sector {
		end := min(start+sector, size)
		// Each sector holds its old content or its new one, never a mix; a sector the
		// file did not have is zeros (its size reached the disk before its data).
		src := durable
		if rng.IntN(2) == 0 {
			src = now
		}
		if start < len(src) {
			copy(out[start:end], src[start:min(end, len(src))])
		}
	}
	return out
}

// readAll reads the whole file f, whatever its current offset.
func readAll(t testing.TB, f *os.File) []byte {
	info, err := f.Stat()
	require.NoError(t, err)
	b := make([]byte, info.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		require.NoError(t, err)
	}
	return b[:n]
}

// String describes the disk, for failure messages.
func (d *powerDisk) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("disk of %s: %d flushes, %d durable entries", d.dir, d.flushes, len(d.entries))
}
