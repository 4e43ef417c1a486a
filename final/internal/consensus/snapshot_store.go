package consensus

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"golog/internal/storage"
)

// SnapshotStore is raft's raft.SnapshotStore for snapshots made of hard-linked segment
// files (see "Snapshots" in snapshot.go). Each snapshot is a directory:
//
//	DIR/TERM-INDEX-MILLIS/
//	  meta.json                          raft's SnapshotMeta (which Raft entry, which
//	                                     cluster configuration), and the stream's size
//	  manifest                           the manifest
//	  00000000000000000000.store ...     the segment files: hard links to the data
//	                                     log's, or files received from the leader
//
// A snapshot is written under TERM-INDEX-MILLIS.tmp and renamed once complete and on
// disk, so a crash never leaves half a snapshot behind a valid name; NewSnapshotStore
// deletes what a crash left. The newest retain snapshots are kept.
//
// The stream Open returns, and a sink takes, is the one in snapshot.go: what raft sends
// to a follower that needs a snapshot, read straight from the files, in bounded memory.
// The state machine takes a shortcut on both sides: Persist links the data log's files
// into the sink instead of writing them, and Restore reads them from the snapshot's
// directory instead of from the stream.
//
// A SnapshotStore is safe for concurrent use.
type SnapshotStore struct {
	dir    string
	retain int
	logger *slog.Logger
}

var _ raft.SnapshotStore = (*SnapshotStore)(nil)

// Files of a snapshot's directory.
const (
	snapshotMetaFile     = "meta.json"
	snapshotManifestFile = "manifest"
	snapshotTmpSuffix    = ".tmp"
)

// NewSnapshotStore opens the snapshot store in dir, creating it if needed, and deletes
// the snapshots a crash left half-written. It keeps the retain newest snapshots (at
// least 1).
func NewSnapshotStore(dir string, retain int, logger *slog.Logger) (*SnapshotStore, error) {
	if retain < 1 {
		return nil, fmt.Errorf("snapshot store: retain %d snapshots: at least 1", retain)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), snapshotTmpSuffix) {
			logger.Warn("removing a snapshot left half-written", "snapshot", e.Name())
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("snapshot store: %w", err)
			}
		}
	}
	return &SnapshotStore{dir: dir, retain: retain, logger: logger}, nil
}

// snapshotMeta is meta.json.
type snapshotMeta struct {
	raft.SnapshotMeta
}

// Create starts a new snapshot of the Raft log up to index, in term. Write the stream
// to the sink, or (the state machine, in Persist) link the files with linkSegments;
// then Close it, or Cancel it.
func (s *SnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("snapshot store: raft snapshot version %d, want 1", version)
	}
	id := fmt.Sprintf("%d-%d-%d", term, index, time.Now().UnixMilli())
	dir := filepath.Join(s.dir, id+snapshotTmpSuffix)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	sink := &snapshotSink{store: s, id: id, dir: dir, meta: raft.SnapshotMeta{
		Version: version, ID: id, Index: index, Term: term,
		Configuration: configuration, ConfigurationIndex: configurationIndex,
	}}
	s.logger.Debug("creating a snapshot", "snapshot", id, "index", index, "term", term)
	return sink, nil
}

// List returns the snapshots, newest first.
func (s *SnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	var metas []*raft.SnapshotMeta
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), snapshotTmpSuffix) {
			continue
		}
		meta, err := s.readMeta(e.Name())
		if err != nil {
			s.logger.Warn("skipping a snapshot that cannot be read", "snapshot", e.Name(), "err", err)
			continue
		}
		metas = append(metas, meta)
	}
	slices.SortFunc(metas, func(a, b *raft.SnapshotMeta) int {
		return cmp.Or(cmp.Compare(b.Term, a.Term), cmp.Compare(b.Index, a.Index), cmp.Compare(b.ID, a.ID))
	})
	return metas, nil
}

// readMeta reads the meta.json of snapshot id.
func (s *SnapshotStore) readMeta(id string) (*raft.SnapshotMeta, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, id, snapshotMetaFile))
	if err != nil {
		return nil, err
	}
	var meta snapshotMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("%s: %w", snapshotMetaFile, err)
	}
	return &meta.SnapshotMeta, nil
}

// Open returns snapshot id's metadata and its stream. The stream is a *snapshotReader.
func (s *SnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, err := s.readMeta(id)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot store: open %s: %w", id, err)
	}
	r, err := openSnapshotReader(filepath.Join(s.dir, id))
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot store: open %s: %w", id, err)
	}
	if r.size != meta.Size {
		return nil, nil, errors.Join(fmt.Errorf("snapshot store: open %s: its files make a stream of %d bytes, "+
			"its metadata says %d: %w", id, r.size, meta.Size, errBadSnapshot), r.Close())
	}
	return meta, r, nil
}

// reap deletes all but the retain newest snapshots.
func (s *SnapshotStore) reap() error {
	metas, err := s.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, meta := range metas[min(s.retain, len(metas)):] {
		s.logger.Debug("removing an old snapshot", "snapshot", meta.ID)
		errs = append(errs, os.RemoveAll(filepath.Join(s.dir, meta.ID)))
	}
	return errors.Join(errs...)
}

// A snapshotSink is where a snapshot is written: a directory being filled. Either
// Write is given the whole stream (a snapshot received from the leader), which a
// goroutine unpacks into files as it comes, or linkSegments is called once (the state
// machine's own snapshot). It is for one goroutine.
type snapshotSink struct {
	store *SnapshotStore
	id    string
	dir   string
	meta  raft.SnapshotMeta

	manifest []byte // the manifest's bytes, once known

	// The unpacking of a stream, started by the first Write.
	pw       *io.PipeWriter
	unpacked chan error

	done bool
}

var _ raft.SnapshotSink = (*snapshotSink)(nil)

func (k *snapshotSink) ID() string { return k.id }

// Write takes the next bytes of the stream.
func (k *snapshotSink) Write(p []byte) (int, error) {
	if k.done || (k.manifest != nil && k.pw == nil) {
		return 0, errors.New("snapshot sink: write after close, or after the segments were linked")
	}
	if k.pw == nil {
		pr, pw := io.Pipe()
		k.pw, k.unpacked = pw, make(chan error, 1)
		go func() {
			err := k.unpack(pr)
			pr.CloseWithError(cmp.Or(err, errors.New("the snapshot stream holds more than its manifest says")))
			k.unpacked <- err
		}()
	}
	return k.pw.Write(p)
}

// unpack reads the stream from r into the sink's directory.
func (k *snapshotSink) unpack(r io.Reader) error {
	m, err := readManifest(r)
	if err != nil {
		return err
	}
	if err := writeSegments(r, m, k.dir); err != nil {
		return err
	}
	var end [1]byte
	if n, _ := io.ReadFull(r, end[:]); n > 0 {
		return fmt.Errorf("the snapshot stream goes on after its last segment: %w", errBadSnapshot)
	}
	k.manifest = m.encode()
	return nil
}

// linkSegments makes the snapshot of m: its segments are pinned files of the data log,
// hard-linked into the directory.
func (k *snapshotSink) linkSegments(m *manifest, pin *storage.Pin) error {
	if k.done || k.pw != nil || k.manifest != nil {
		return errors.New("snapshot sink: segments linked twice, or into a sink being written")
	}
	if err := pin.Link(k.dir); err != nil {
		return err
	}
	k.manifest = m.encode()
	return nil
}

// Close finishes the snapshot: it writes the manifest and metadata, syncs the
// directory, gives it its name, and deletes the snapshots that are no longer retained.
func (k *snapshotSink) Close() error {
	if k.done {
		return nil
	}
	if k.pw != nil {
		_ = k.pw.Close()
		if err := <-k.unpacked; err != nil {
			return errors.Join(fmt.Errorf("snapshot %s: %w", k.id, err), k.cancel())
		}
	}
	if k.manifest == nil {
		return errors.Join(fmt.Errorf("snapshot %s: closed before anything was written", k.id), k.cancel())
	}
	if err := k.finish(); err != nil {
		return errors.Join(fmt.Errorf("snapshot %s: %w", k.id, err), k.cancel())
	}
	k.done = true
	if err := k.store.reap(); err != nil {
		k.store.logger.Warn("removing old snapshots", "err", err)
	}
	k.store.logger.Debug("snapshot created", "snapshot", k.id, "bytes", k.meta.Size)
	return nil
}

// finish writes the manifest and the metadata, and renames the directory.
func (k *snapshotSink) finish() error {
	m, err := decodeManifest(k.manifest)
	if err != nil {
		return err
	}
	k.meta.Size = streamSize(len(k.manifest), m.segments)
	meta, err := json.Marshal(snapshotMeta{k.meta})
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{snapshotManifestFile: k.manifest, snapshotMetaFile: meta} {
		if err := writeFile(filepath.Join(k.dir, name), bytes.NewReader(content), uint64(len(content))); err != nil {
			return err
		}
	}
	if err := storage.SyncDir(k.dir); err != nil {
		return err
	}
	final := filepath.Join(k.store.dir, k.id)
	if err := os.Rename(k.dir, final); err != nil {
		return err
	}
	k.dir = final
	return storage.SyncDir(k.store.dir)
}

// Cancel abandons the snapshot and deletes what was written.
func (k *snapshotSink) Cancel() error {
	if k.done {
		return nil
	}
	if k.pw != nil {
		_ = k.pw.CloseWithError(errors.New("snapshot cancelled"))
		<-k.unpacked
	}
	return k.cancel()
}

// cancel deletes the directory.
func (k *snapshotSink) cancel() error {
	k.done = true
	return os.RemoveAll(k.dir)
}

// A snapshotReader is the stream of a snapshot in the store: the header and manifest,
// then each segment file's first Size bytes. The state machine's Restore reads the
// manifest and the files directly instead (see fsm.Restore).
type snapshotReader struct {
	dir      string
	manifest *manifest
	size     int64
	files    []*os.File
	r        io.Reader
}

// openSnapshotReader opens the snapshot in dir.
func openSnapshotReader(dir string) (*snapshotReader, error) {
	raw, err := os.ReadFile(filepath.Join(dir, snapshotManifestFile))
	if err != nil {
		return nil, err
	}
	m, err := decodeManifest(raw)
	if err != nil {
		return nil, err
	}
	r := &snapshotReader{dir: dir, manifest: m, size: streamSize(len(raw), m.segments)}
	readers := []io.Reader{bytes.NewReader(streamHeader(raw))}
	for _, s := range m.segments {
		f, err := os.Open(filepath.Join(dir, s.Name()))
		if err != nil {
			return nil, errors.Join(err, r.Close())
		}
		r.files = append(r.files, f)
		readers = append(readers, io.NewSectionReader(f, 0, int64(s.Size)))
	}
	r.r = io.MultiReader(readers...)
	return r, nil
}

// paths returns where the snapshot's segment files are.
func (r *snapshotReader) paths() []string {
	paths := make([]string, len(r.manifest.segments))
	for i, s := range r.manifest.segments {
		paths[i] = filepath.Join(r.dir, s.Name())
	}
	return paths
}

func (r *snapshotReader) Read(p []byte) (int, error) { return r.r.Read(p) }

// Close closes the segment files.
func (r *snapshotReader) Close() error {
	var errs []error
	for _, f := range r.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
