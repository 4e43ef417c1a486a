package storage_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// These tests damage log files the way a crash, a power loss or a bad disk would, and
// check what NewLog makes of them: a crash is recovered without losing an acknowledged
// record; anything else is refused with ErrCorrupt and no file changed.

func TestRecoverAfterCrash(t *testing.T) {
	// A log of five records in one segment, copied without Close: the index file is still
	// at its full pre-allocated size, zeros after the five entries.
	tests := []struct {
		name        string
		damage      func(t *testing.T, store string, positions []int64)
		wantRecords int
	}{
		{
			name:        "nothing more: only the index tail of zeros",
			damage:      func(*testing.T, string, []int64) {},
			wantRecords: 5,
		},
		{
			name: "store shorter than the index says",
			damage: func(t *testing.T, store string, positions []int64) {
				require.NoError(t, os.Truncate(store, positions[3]))
			},
			wantRecords: 3,
		},
		{
			name: "last frame torn in its header",
			damage: func(t *testing.T, store string, positions []int64) {
				require.NoError(t, os.Truncate(store, positions[4]+3))
			},
			wantRecords: 4,
		},
		{
			name: "last frame torn in its payload",
			damage: func(t *testing.T, store string, positions []int64) {
				require.NoError(t, os.Truncate(store, fileSize(t, store)-1))
			},
			wantRecords: 4,
		},
		{
			name: "last frame zeroed",
			damage: func(t *testing.T, store string, positions []int64) {
				overwrite(t, store, positions[4], make([]byte, fileSize(t, store)-positions[4]))
			},
			wantRecords: 4,
		},
		{
			name: "last frame fails its checksum",
			damage: func(t *testing.T, store string, positions []int64) {
				flipByte(t, store, fileSize(t, store)-1)
			},
			wantRecords: 4,
		},
		{
			name: "zeros after the last frame",
			damage: func(t *testing.T, store string, positions []int64) {
				appendBytes(t, store, make([]byte, 100))
			},
			wantRecords: 5,
		},
		{
			name: "garbage after the last frame",
			damage: func(t *testing.T, store string, positions []int64) {
				appendBytes(t, store, []byte("\x00\x00\x00\x10half a frame"))
			},
			wantRecords: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const records = 5
			src := testenv.TempDir(t)
			l := openLog(t, src, storage.Config{})
			appendRecords(t, l, 0, records)
			dir := crashCopy(t, src)
			index := segmentFile(dir, 0, ".index")
			store := segmentFile(dir, 0, ".store")
			require.Equal(t, int64(12<<20), fileSize(t, index), "the copied index is at its full size")
			tt.damage(t, store, indexPositions(t, index, records))

			l = openLog(t, dir, storage.Config{})

			require.Equal(t, uint64(tt.wantRecords), l.NextOffset())
			requireRecords(t, l, 0, 0, tt.wantRecords)
			_, err := l.Read(uint64(tt.wantRecords))
			require.ErrorAs(t, err, new(storage.ErrOffsetOutOfRange))
			appendRecords(t, l, tt.wantRecords, tt.wantRecords+2)
			requireRecords(t, l, 0, 0, tt.wantRecords+2)
			require.NoError(t, l.Close())
			require.Equal(t, int64(tt.wantRecords+2)*12, fileSize(t, index))
		})
	}
}

func TestRecoverAfterCrashWithManySegments(t *testing.T) {
	c := config(0, 3*12, 0)
	src := testenv.TempDir(t)
	l := openLog(t, src, c)
	appendRecords(t, l, 0, 10)
	dir := crashCopy(t, src)

	l = openLog(t, dir, c)

	require.Equal(t, uint64(10), l.NextOffset())
	requireRecords(t, l, 0, 0, 10)
	appendRecords(t, l, 10, 14)
	requireRecords(t, l, 0, 0, 14)
}

// Sync flushes the stores but not the indexes, so after a power loss an index file may
// hold anything: stale entries, zeros, or nothing at all. None of it may matter: NewLog
// rebuilds every index from its store.
func TestIndexFilesDoNotMatter(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, index string)
	}{
		{"zeros", func(t *testing.T, index string) {
			overwrite(t, index, 0, make([]byte, fileSize(t, index)))
		}},
		{"garbage", func(t *testing.T, index string) {
			overwrite(t, index, 0, bytes.Repeat([]byte{0xff}, int(fileSize(t, index))))
		}},
		{"positions off by one", func(t *testing.T, index string) {
			b, err := os.ReadFile(index)
			require.NoError(t, err)
			for e := 0; e+12 <= len(b); e += 12 {
				b[e+11]++ // the low byte of the position
			}
			require.NoError(t, os.WriteFile(index, b, 0o644))
		}},
		{"empty", func(t *testing.T, index string) {
			require.NoError(t, os.Truncate(index, 0))
		}},
		{"missing", func(t *testing.T, index string) {
			require.NoError(t, os.Remove(index))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Ten records, three per segment: segments 0, 3, 6 and 9 (the active one).
			c := config(0, 3*12, 0)
			src := testenv.TempDir(t)
			l := openLog(t, src, c)
			appendRecords(t, l, 0, 10)
			require.NoError(t, l.Sync())
			dir := crashCopy(t, src)
			indexes, err := filepath.Glob(filepath.Join(dir, "*.index"))
			require.NoError(t, err)
			require.Len(t, indexes, 4)
			for _, index := range indexes {
				tt.damage(t, index)
			}

			l = openLog(t, dir, c)

			require.Equal(t, uint64(10), l.NextOffset())
			requireRecords(t, l, 0, 0, 10)
			appendRecords(t, l, 10, 14)
			require.NoError(t, l.Close())
			requireRecords(t, openLog(t, dir, c), 0, 0, 14)
		})
	}
}
func TestRecoverTornTailAcrossSegments(t *testing.T) {
	// Nine records, three per segment: segments 0, 3 and 6, the last one full. Then a
	// power loss: segment 9 was created, but not every write reached the disk.
	tests := []struct {
		name        string
		damage      func(t *testing.T, dir string)
		wantRecords int
		wantStores  []string
	}{
		{
			name: "empty new segment",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".store"), nil, 0o644))
			},
			wantRecords: 9,
			wantStores:  []string{"00000000000000000000.store", "00000000000000000003.store", "00000000000000000006.store", "00000000000000000009.store"},
		},
		{
			name: "new segment of zeros",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".store"), make([]byte, 64), 0o644))
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".index"), make([]byte, 36), 0o644))
			},
			wantRecords: 9,
			wantStores:  []string{"00000000000000000000.store", "00000000000000000003.store", "00000000000000000006.store", "00000000000000000009.store"},
		},
		{
			name: "last record lost, empty new segment",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Truncate(segmentFile(dir, 6, ".store"), framePosition(t, dir, 6, 2)))
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".store"), nil, 0o644))
			},
			wantRecords: 8,
			wantStores:  []string{"00000000000000000000.store", "00000000000000000003.store", "00000000000000000006.store"},
		},
		{
			name: "last record torn, empty new segments",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Truncate(segmentFile(dir, 6, ".store"), framePosition(t, dir, 6, 2)+5))
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".store"), nil, 0o644))
				require.NoError(t, os.WriteFile(segmentFile(dir, 10, ".store"), []byte("junk"), 0o644))
			},
			wantRecords: 8,
			wantStores:  []string{"00000000000000000000.store", "00000000000000000003.store", "00000000000000000006.store"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.TempDir(t)
			c := config(0, 3*12, 0)
			l := openLog(t, dir, c)
			appendRecords(t, l, 0, 9)
			require.NoError(t, l.Close())
			tt.damage(t, dir)

			l = openLog(t, dir, c)

			require.Equal(t, uint64(tt.wantRecords), l.NextOffset())
			requireRecords(t, l, 0, 0, tt.wantRecords)
			require.Equal(t, tt.wantStores, storeFiles(t, dir))
			appendRecords(t, l, tt.wantRecords, 12)
			requireRecords(t, l, 0, 0, 12)
			require.NoError(t, l.Close())
			l = openLog(t, dir, c)
			requireRecords(t, l, 0, 0, 12)
		})
	}
}

func TestCorruptLogIsRefused(t *testing.T) {
	// Nine records, three per segment: segments 0, 3 and 6, each with frames 0, 1, 2.
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{
			name: "checksum byte flipped in a middle frame of the last segment",
			damage: func(t *testing.T, dir string) {
				flipByte(t, segmentFile(dir, 6, ".store"), framePosition(t, dir, 6, 1)+5)
			},
		},
		{
			name: "length pointing past the end of the file, in the last segment",
			damage: func(t *testing.T, dir string) {
				flipByte(t, segmentFile(dir, 6, ".store"), framePosition(t, dir, 6, 1))
			},
		},
		{
			name: "length zeroed in a middle frame",
			damage: func(t *testing.T, dir string) {
				overwrite(t, segmentFile(dir, 6, ".store"), framePosition(t, dir, 6, 0), make([]byte, 4))
			},
		},
		{
			name: "last frame of an older segment damaged",
			damage: func(t *testing.T, dir string) {
				store := segmentFile(dir, 3, ".store")
				flipByte(t, store, fileSize(t, store)-1)
			},
		},
		{
			name: "torn tail in an older segment",
			damage: func(t *testing.T, dir string) {
				store := segmentFile(dir, 3, ".store")
				require.NoError(t, os.Truncate(store, fileSize(t, store)-1))
			},
		},
		{
			name: "records after a gap at the end of the last segment but one",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Truncate(segmentFile(dir, 3, ".store"), framePosition(t, dir, 3, 2)))
			},
		},
		{
			name: "segment missing in the middle",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(segmentFile(dir, 3, ".store")))
				require.NoError(t, os.Remove(segmentFile(dir, 3, ".index")))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.TempDir(t)
			c := config(0, 3*12, 0)
			l := openLog(t, dir, c)
			appendRecords(t, l, 0, 9)
			require.NoError(t, l.Close())
			tt.damage(t, dir)
			before := snapshot(t, dir)

			_, err := storage.NewLog(dir, c)

			require.ErrorIs(t, err, storage.ErrCorrupt)
			require.Equal(t, before, snapshot(t, dir), "a refused log is left as it was")
			_, err = storage.NewLog(dir, c)
			require.ErrorIs(t, err, storage.ErrCorrupt, "a refused open releases the directory")
		})
	}
}

// A sealed segment is checked on open, not scanned (see checkSealed): damage in the
// middle of one is found when the damaged record is read, and only that record fails.
func TestDamageInASealedSegmentIsFoundByReads(t *testing.T) {
	dir := testenv.TempDir(t)
	c := config(0, 3*12, 0)
	l := openLog(t, dir, c)
	appendRecords(t, l, 0, 9)
	require.NoError(t, l.Close())
	flipByte(t, segmentFile(dir, 0, ".store"), framePosition(t, dir, 0, 1)+10)

	l = openLog(t, dir, c)
	_, err := l.Read(1)
	require.ErrorIs(t, err, storage.ErrCorrupt)
	for _, off := range []uint64{0, 2, 3, 8} {
		_, err := l.Read(off)
		require.NoError(t, err, "Read(%d)", off)
	}
}

// A sealed segment whose index does not match its store (here: an index from an
// older version, one entry short) is scanned like the active one, and its index
// rebuilt.
func TestSealedSegmentWithAWrongIndexIsScanned(t *testing.T) {
	dir := testenv.TempDir(t)
	c := config(0, 3*12, 0)
	l := openLog(t, dir, c)
	appendRecords(t, l, 0, 9)
	require.NoError(t, l.Close())
	index := segmentFile(dir, 3, ".index")
	require.NoError(t, os.Truncate(index, 2*12))

	l = openLog(t, dir, c)
	for off := range uint64(9) {
		_, err := l.Read(off)
		require.NoError(t, err, "Read(%d)", off)
	}
	require.Equal(t, int64(3*12), fileSize(t, index), "the index was rebuilt")
}

func TestReadOfDamagedRecord(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, storage.Config{})
	appendRecords(t, l, 0, 3)
	positions := indexPositions(t, segmentFile(dir, 0, ".index"), 3)

	flipByte(t, segmentFile(dir, 0, ".store"), positions[1]+10)

	_, err := l.Read(1)
	require.ErrorIs(t, err, storage.ErrCorrupt)
	requireRecords(t, l, 0, 0, 1)
	requireRecords(t, l, 0, 2, 3)
}

func TestStrayFilesAreIgnored(t *testing.T) {
	dir := testenv.TempDir(t)
	stray := map[string]string{
		"notes.txt":                  "not a segment",
		".DS_Store":                  "",
		"abc.store":                  "not a number",
		"7.store":                    "not 20 digits",
		"00000000000000000099.index": "an index without a store",
	}
	for name, content := range stray {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "lost+found"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "00000000000000000050.store"), 0o755))

	l := openLog(t, dir, config(0, 3*12, 0))
	appendRecords(t, l, 0, 10)
	require.NoError(t, l.Close())
	l = openLog(t, dir, config(0, 3*12, 0))

	requireRecords(t, l, 0, 0, 10)
	for name, content := range stray {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, content, string(b), name)
	}
}

func TestHalfCreatedSegment(t *testing.T) {
	// Nine records, three per segment: segments 0, 3 and 6, the last one full.
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{
			name: "index missing",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(segmentFile(dir, 3, ".index")))
				require.NoError(t, os.Remove(segmentFile(dir, 6, ".index")))
			},
		},
		{
			name: "new segment with an empty store and no index",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".store"), nil, 0o644))
			},
		},
		{
			name: "new segment with an empty store and an empty index",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".store"), nil, 0o644))
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".index"), nil, 0o644))
			},
		},
		{
			name: "new segment with only an index, full of garbage",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(segmentFile(dir, 9, ".index"), bytes.Repeat([]byte{0xff}, 100), 0o644))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.TempDir(t)
			c := config(0, 3*12, 0)
			l := openLog(t, dir, c)
			appendRecords(t, l, 0, 9)
			require.NoError(t, l.Close())
			tt.damage(t, dir)

			l = openLog(t, dir, c)

			require.Equal(t, uint64(9), l.NextOffset())
			appendRecords(t, l, 9, 12)
			requireRecords(t, l, 0, 0, 12)
			require.NoError(t, l.Close())
			l = openLog(t, dir, c)
			requireRecords(t, l, 0, 0, 12)
		})
	}
}

func TestReopenWithOtherMaxIndexBytes(t *testing.T) {
	tests := []struct {
		name          string
		before, after uint64
	}{
		{"smaller", 10 * 12, 3 * 12},
		{"larger", 3 * 12, 10 * 12},
		{"not a multiple of 12", 10 * 12, 3*12 + 5},
		{"below what the active segment holds", 10 * 12, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.TempDir(t)
			l := openLog(t, dir, config(0, tt.before, 0))
			appendRecords(t, l, 0, 15)
			require.NoError(t, l.Close())

			l = openLog(t, dir, config(0, tt.after, 0))
			requireRecords(t, l, 0, 0, 15)
			appendRecords(t, l, 15, 30)
			requireRecords(t, l, 0, 0, 30)
			require.NoError(t, l.Close())

			l = openLog(t, dir, config(0, tt.after, 0))
			requireRecords(t, l, 0, 0, 30)
		})
	}
}

// framePosition returns where frame n of segment base starts in its store, from the
// segment's index (closed, so trimmed to its entries).
func framePosition(t *testing.T, dir string, base uint64, n int) int64 {
	t.Helper()
	return indexPositions(t, segmentFile(dir, base, ".index"), n+1)[n]
}

// flipByte inverts the bits of the byte at pos in the file at path.
func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, pos)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, pos)
	require.NoError(t, err)
}

// overwrite writes p at pos in the file at path.
func overwrite(t *testing.T, path string, pos int64, p []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(p, pos)
	require.NoError(t, err)
}

// appendBytes adds p at the end of the file at path.
func appendBytes(t *testing.T, path string, p []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(p)
	require.NoError(t, err)
}
