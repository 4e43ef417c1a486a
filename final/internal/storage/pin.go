package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// # Pins: snapshots made of the segment files themselves
//
// A snapshot of a log does not have to copy it. Every segment but the active one never
// changes again, and the active one is only ever appended to: the first Size bytes of
// a store file stay what they are. So a snapshot can be the list of the store files
// with their sizes, and a hard link to each (a second name for the same file, which
// costs no space and survives the first name being deleted).
//
// Between the moment a snapshot is decided (Pin, which is quick) and the moment the
// links are made (Pin.Link, later, on another goroutine), the log may remove segments
// (Truncate, Reset). So a pinned segment's store is not deleted when the log removes
// it: it is renamed to NAME.store.retired, outside the names the log opens, and deleted
// once every Pin on it is released. NewLog deletes retired files a crash left behind.

// retiredSuffix is added to the name of a store file that the log has removed while a
// Pin held it.
const retiredSuffix = ".retired"

// A SegmentFile is one segment's store file as a Pin saw it: the records [Base, Next),
// held in its first Size bytes.
type SegmentFile struct {
	Base, Next uint64
	Size       uint64
}

// Name returns the file name of the store file, as it must be called in a log's
// directory.
func (f SegmentFile) Name() string { return segmentName(f.Base, storeSuffix) }

// A Pin holds the log's segments as they were when Log.Pin was called. Until Release,
// their store files stay on disk (see above). A Pin is for one goroutine; Release must
// be called once, after which the Pin is of no use.
type Pin struct {
	log      *Log
	segments []*segment
	files    []SegmentFile
	released bool
}

// Pin pins the log's segments as they are now, for a snapshot: Files says what they
// hold. It does no I/O. After Close it returns ErrClosed.
func (l *Log) Pin() (*Pin, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	p := &Pin{log: l, segments: make([]*segment, len(l.segments)), files: make([]SegmentFile, len(l.segments))}
	for i, s := range l.segments {
		s.pins++
		s.pinnedSize = max(s.pinnedSize, s.store.size)
		p.segments[i] = s
		p.files[i] = SegmentFile{Base: s.base, Next: s.next(), Size: s.store.size}
	}
	return p, nil
}

// Files returns the segments the Pin holds, oldest first. The caller must not modify
// the slice.
func (p *Pin) Files() []SegmentFile { return p.files }

// Link makes a hard link to each pinned store file in dir, under its own name
// (SegmentFile.Name). A file that holds more than its pinned Size (the active segment,
// appended to since) is linked all the same: a reader goes by Size. dir must be on the
// same file system as the log.
func (p *Pin) Link(dir string) error {
	for i, s := range p.segments {
		if err := os.Link(p.log.storePath(s), filepath.Join(dir, p.files[i].Name())); err != nil {
			return fmt.Errorf("link segment %d into %s: %w", s.base, dir, err)
		}
	}
	return nil
}

// Release gives the segments back: those the log has removed since are deleted now,
// unless another Pin holds them. It is idempotent.
func (p *Pin) Release() error {
	l := p.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.released {
		return nil
	}
	p.released = true
	var errs []error
	for _, s := range p.segments {
		s.pins--
		if s.pins > 0 {
			continue
		}
		s.pinnedSize = 0
		if s.retired {
			errs = append(errs, os.Remove(s.retiredPath()))
		}
	}
	return errors.Join(errs...)
}

// storePath returns the path of s's store file now: its own name, or the retired name
// once the log has removed it. Pinned segments only change name under l.mu, and a
// rename is atomic, so a caller that has the path either finds the file there or, if
// it was renamed meanwhile, finds it by asking again.
func (l *Log) storePath(s *segment) string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if s.retired {
		return s.retiredPath()
	}
	return filepath.Join(s.dir, segmentName(s.base, storeSuffix))
}

// retiredPath returns the name a removed, pinned segment's store file has.
func (s *segment) retiredPath() string {
	return filepath.Join(s.dir, segmentName(s.base, storeSuffix)+retiredSuffix)
}

// removeRetired deletes the retired store files in dir: a crash left them there before
// their Pins were released, and nothing holds them any more.
func removeRetired(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), storeSuffix+retiredSuffix) {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// ReplaceWith replaces every record of the log with those of the store files in
// files, which Base and Size describe (a snapshot's segments, in offset order, each
// starting where the one before it ends): it removes the log's segments, links each
// file into the log's directory (copying the first Size bytes instead when the file is
// longer, as an active segment's may be, or on another file system), and opens them.
// paths[i] is where files[i] is. Waiters on Appended are woken. If ReplaceWith fails
// the log is left closed; reopen it with NewLog.
func (l *Log) ReplaceWith(files []SegmentFile, paths []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.replaceLocked(files, paths); err != nil {
		return fmt.Errorf("replace log %s, which is now closed: %w", l.dir, errors.Join(err, l.closeLocked()))
	}
	lowest, next := l.bounds()
	l.config.Logger.Debug("log replaced", "segments", len(l.segments), "lowest", lowest, "offset", next)
	close(l.appended)
	l.appended = make(chan struct{})
	return nil
}

// replaceLocked does the work of ReplaceWith. The caller holds l.mu for writing.
func (l *Log) replaceLocked(files []SegmentFile, paths []string) error {
	for i := 1; i < len(files); i++ {
		if files[i].Base != files[i-1].Next {
			return fmt.Errorf("segment %d does not start where segment %d ends (%d): %w",
				files[i].Base, files[i-1].Base, files[i-1].Next, ErrCorrupt)
		}
	}
	// Newest first, as Reset: a crash half-way leaves a prefix, which is still a log.
	for len(l.segments) > 0 {
		s := l.segments[len(l.segments)-1]
		if err := s.remove(); err != nil {
			return fmt.Errorf("remove segment %d: %w", s.base, err)
		}
		l.segments = l.segments[:len(l.segments)-1]
	}
	for i, f := range files {
		if err := placeFile(paths[i], filepath.Join(l.dir, f.Name()), f.Size, l.config.Disk); err != nil {
			return fmt.Errorf("segment %d: %w", f.Base, err)
		}
	}
	if err := l.config.Disk.SyncDir(l.dir); err != nil {
		return err
	}
	l.dirUnsynced = false
	if len(files) == 0 {
		s, err := newSegment(l.dir, l.config.Segment.InitialOffset, l.config.maxEntries(), l.config.Disk)
		if err != nil {
			return err
		}
		l.segments = []*segment{s}
		return l.config.Disk.SyncDir(l.dir)
	}
	return l.load()
}

// placeFile makes dst a file holding the first size bytes of src: a hard link when src
// has exactly that size, a copy (flushed to disk) otherwise or when src is on another
// file system.
func placeFile(src, dst string, size uint64, disk Disk) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if uint64(info.Size()) < size {
		return fmt.Errorf("%s holds %d bytes, fewer than the %d expected: %w", src, info.Size(), size, ErrCorrupt)
	}
	if uint64(info.Size()) == size {
		if err := os.Link(src, dst); err == nil || !errors.Is(err, syscall.EXDEV) {
			return err
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(in, 0, int64(size)))
	if err == nil {
		err = disk.SyncFile(out)
	}
	return errors.Join(err, out.Close())
}

// Segments returns the log's segments as they are now, oldest first. Unlike Pin it
// holds nothing: a segment may be removed as soon as Segments returns.
func (l *Log) Segments() []SegmentFile {
	l.mu.RLock()
	defer l.mu.RUnlock()
	files := make([]SegmentFile, len(l.segments))
	for i, s := range l.segments {
		files[i] = SegmentFile{Base: s.base, Next: s.next(), Size: s.store.size}
	}
	return files
}
