package storage_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// config returns a Config with the given segment limits (0 = default) and initial offset.
func config(maxStoreBytes, maxIndexBytes, initialOffset uint64) storage.Config {
	var c storage.Config
	c.Segment.MaxStoreBytes = maxStoreBytes
	c.Segment.MaxIndexBytes = maxIndexBytes
	c.Segment.InitialOffset = initialOffset
	return c
}

// openLog opens the log in dir with the test's logger and closes it when the test ends.
func openLog(t *testing.T, dir string, c storage.Config) *storage.Log {
	t.Helper()
	c.Logger = testenv.Logger(t)
	l, err := storage.NewLog(dir, c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

// value returns the value the tests store as record i.
func value(i int) []byte {
	return fmt.Appendf(nil, "record-%03d", i)
}

// appendRecords appends records value(from) to value(to-1) and checks that they get
// dense offsets.
func appendRecords(t *testing.T, l *storage.Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		want := l.NextOffset()
		off, err := l.Append(&storage.Record{Value: value(i)})
		require.NoError(t, err)
		require.Equal(t, want, off, "offset of record %d", i)
	}
}

// requireRecords checks that the log holds value(i) at offset first+i for i in [from, to).
func requireRecords(t *testing.T, l *storage.Log, first uint64, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		off := first + uint64(i)
		r, err := l.Read(off)
		require.NoError(t, err, "Read(%d)", off)
		require.Equal(t, value(i), r.Value, "Read(%d).Value", off)
		require.Equal(t, off, r.Offset, "Read(%d).Offset", off)
	}
}

// storeFiles returns the names of the store files in dir, in order.
func storeFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.store"))
	require.NoError(t, err)
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// segmentFile returns the path of a segment's store or index file (suffix ".store" or
// ".index") in dir.
func segmentFile(dir string, base uint64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// snapshot returns the content of every file in dir but LOCK, by name, to check that
// nothing was changed.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	files := map[string]string{}
	for _, e := range entries {
		if e.Name() == "LOCK" || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = string(b)
	}
	return files
}

// crashCopy copies the log files in src, as they are now, to a new directory: what a
// crash of the process would leave on disk, since the log writes straight to the files.
func crashCopy(t *testing.T, src string) string {
	t.Helper()
	dst := testenv.TempDir(t)
	for name, content := range snapshot(t, src) {
		require.NoError(t, os.WriteFile(filepath.Join(dst, name), []byte(content), 0o644))
	}
	return dst
}

// indexPositions reads the store positions out of an index file, following the format
// in the package documentation.
func indexPositions(t *testing.T, path string, entries int) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), entries*12, "index %s holds %d entries", path, entries)
	positions := make([]int64, entries)
	for i := range positions {
		e := b[i*12 : (i+1)*12]
		var pos int64
		for _, c := range e[4:] {
			pos = pos<<8 | int64(c)
		}
		positions[i] = pos
	}
	return positions
}

// fileSize returns the size of the file at path.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Size()
}
