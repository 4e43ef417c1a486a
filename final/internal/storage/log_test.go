package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

func TestAppendReadDenseOffsets(t *testing.T) {
	tests := []struct {
		name          string
		initialOffset uint64
	}{
		{"from 0", 0},
		{"from 16", 16},
		{"from 2^40", 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Four records per segment, so the reads cross segments.
			l := openLog(t, testenv.TempDir(t), config(0, 4*12, tt.initialOffset))
			require.Equal(t, tt.initialOffset, l.NextOffset())

			appendRecords(t, l, 0, 10)

			requireRecords(t, l, tt.initialOffset, 0, 10)
			require.Equal(t, tt.initialOffset, l.LowestOffset())
			highest, err := l.HighestOffset()
			require.NoError(t, err)
			require.Equal(t, tt.initialOffset+9, highest)
			require.Equal(t, tt.initialOffset+10, l.NextOffset())
		})
	}
}

func TestAppendDoesNotModifyRecord(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), config(0, 0, 5))
	r := &storage.Record{Value: []byte("v"), Offset: 42}

	off, err := l.Append(r)

	require.NoError(t, err)
	require.Equal(t, uint64(5), off)
	require.Equal(t, &storage.Record{Value: []byte("v"), Offset: 42}, r)
}

func TestAppendEmptyAndNilValues(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), storage.Config{})

	for _, v := range [][]byte{nil, {}, {0}} {
		off, err := l.Append(&storage.Record{Value: v})
		require.NoError(t, err)
		r, err := l.Read(off)
		require.NoError(t, err)
		require.Equal(t, len(v), len(r.Value), "value %q", v)
	}
	_, err := l.Append(nil)
	require.Error(t, err)
	require.Equal(t, uint64(3), l.NextOffset(), "a nil record is not appended")
}

func TestEmptyLog(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), config(0, 0, 7))

	_, err := l.HighestOffset()
	require.ErrorIs(t, err, storage.ErrEmpty)
	require.Equal(t, uint64(7), l.LowestOffset())
	require.Equal(t, uint64(7), l.NextOffset())
	_, err = l.Read(7)
	oor, ok := errors.AsType[storage.ErrOffsetOutOfRange](err)
	require.True(t, ok, "Read on an empty log: %v", err)
	require.Equal(t, storage.ErrOffsetOutOfRange{Offset: 7, Lowest: 7, Next: 7}, oor)
	require.Contains(t, err.Error(), "empty")
}

func TestInvalidConfig(t *testing.T) {
	_, err := storage.NewLog(testenv.TempDir(t), config(0, 11, 0))
	require.ErrorContains(t, err, "MaxIndexBytes")
}

func TestRollsOnMaxIndexBytes(t *testing.T) {
	tests := []struct {
		name          string
		maxIndexBytes uint64
		wantSegments  []string
	}{
		{"three entries", 36, []string{"00000000000000000000.store", "00000000000000000003.store",
			"00000000000000000006.store", "00000000000000000009.store"}},
		// 40 is not a multiple of 12: it is rounded down to 36, three entries. Not
		// rounding would leave room for a fourth entry that does not fit.
		{"rounded down to three entries", 40, []string{"00000000000000000000.store", "00000000000000000003.store",
			"00000000000000000006.store", "00000000000000000009.store"}},
		{"rounded down to one entry", 23, []string{"00000000000000000000.store", "00000000000000000001.store",
			"00000000000000000002.store", "00000000000000000003.store", "00000000000000000004.store",
			"00000000000000000005.store", "00000000000000000006.store", "00000000000000000007.store",
			"00000000000000000008.store", "00000000000000000009.store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.TempDir(t)
			l := openLog(t, dir, config(0, tt.maxIndexBytes, 0))

			appendRecords(t, l, 0, 10)

			require.Equal(t, tt.wantSegments, storeFiles(t, dir))
			requireRecords(t, l, 0, 0, 10)
		})
	}
}

func TestReopenContinuesWhereItStopped(t *testing.T) {
	dir := testenv.TempDir(t)
	c := config(0, 3*12, 0)
	l := openLog(t, dir, c)
	appendRecords(t, l, 0, 10)
	require.NoError(t, l.Close())

	l = openLog(t, dir, c)

	require.Equal(t, uint64(10), l.NextOffset())
	requireRecords(t, l, 0, 0, 10)
	appendRecords(t, l, 10, 15)
	requireRecords(t, l, 0, 0, 15)
}

func TestIndexTrimmedToItsEntries(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, config(0, 100*12, 0))
	appendRecords(t, l, 0, 150) // segments 0 (100 records) and 100 (50 records)
	active := segmentFile(dir, 100, ".index")
	require.Equal(t, int64(100*12), fileSize(t, active), "the active index is sized for all its entries")
	require.Equal(t, int64(100*12), fileSize(t, segmentFile(dir, 0, ".index")))

	require.NoError(t, l.Close())

	require.Equal(t, int64(50*12), fileSize(t, active), "Close trims the index to its entries")
	require.Equal(t, int64(100*12), fileSize(t, segmentFile(dir, 0, ".index")))
}

func TestReadOutOfRange(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), config(0, 3*12, 0))
	appendRecords(t, l, 0, 10)
	require.NoError(t, l.Truncate(3)) // the log now holds offsets 3 to 9

	tests := []struct {
		name   string
		offset uint64
	}{
		{"below the lowest offset", 2},
		{"first offset ever, truncated", 0},
		{"the next offset", 10},
		{"just past the next offset", 11},
		{"far past the end", math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := l.Read(tt.offset)

			require.Nil(t, r)
			oor, ok := errors.AsType[storage.ErrOffsetOutOfRange](err)
			require.True(t, ok, "Read(%d) = %v; want an ErrOffsetOutOfRange", tt.offset, err)
			require.Equal(t, storage.ErrOffsetOutOfRange{Offset: tt.offset, Lowest: 3, Next: 10}, oor)
			require.Contains(t, err.Error(), "3 to 9")
		})
	}
}

func TestTruncate(t *testing.T) {
	// Ten records, three per segment: segments start at 0, 3, 6 and 9 (the active one).
	tests := []struct {
		lowest     uint64
		wantLowest uint64
	}{
		{lowest: 0, wantLowest: 0},
		{lowest: 2, wantLowest: 0},   // segment 0 still holds offset 2
		{lowest: 3, wantLowest: 3},   // segment 0 is all below 3
		{lowest: 5, wantLowest: 3},   // whole segments only: 3 and 4 stay
		{lowest: 8, wantLowest: 6},   // segment 6 still holds 8
		{lowest: 9, wantLowest: 9},   // everything but the active segment
		{lowest: 10, wantLowest: 9},  // the active segment is never removed
		{lowest: 100, wantLowest: 9}, // same
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("lowest %d", tt.lowest), func(t *testing.T) {
			t.Parallel()
			dir := testenv.TempDir(t)
			c := config(0, 3*12, 0)
			l := openLog(t, dir, c)
			appendRecords(t, l, 0, 10)

			require.NoError(t, l.Truncate(tt.lowest))

			require.Equal(t, tt.wantLowest, l.LowestOffset(), "LowestOffset after Truncate(%d)", tt.lowest)
			require.Equal(t, uint64(10), l.NextOffset(), "offsets are never reused")
			requireRecords(t, l, 0, int(tt.wantLowest), 10)
			if tt.wantLowest > 0 {
				_, err := l.Read(tt.wantLowest - 1)
				require.ErrorAs(t, err, new(storage.ErrOffsetOutOfRange))
			}
			appendRecords(t, l, 10, 12)

			// The removed segments stay removed.
			require.NoError(t, l.Close())
			l = openLog(t, dir, c)
			require.Equal(t, tt.wantLowest, l.LowestOffset())
			requireRecords(t, l, 0, int(tt.wantLowest), 12)
		})
	}
}

func TestReaderRoundTrip(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, config(0, 3*12, 0))
	appendRecords(t, l, 0, 10)
	onDisk := ""
	for _, name := range storeFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		onDisk += string(b)
	}

	reader := l.Reader()
	appendRecords(t, l, 10, 12) // after the Reader: not in its stream
	stream, err := io.ReadAll(reader)

	require.NoError(t, err)
	require.Equal(t, onDisk, string(stream), "the stream is the store files, oldest first")
	s := storage.NewScanner(bytes.NewReader(stream))
	var got []*storage.Record
	for s.Scan() {
		got = append(got, s.Record())
	}
	require.NoError(t, s.Err())
	require.Len(t, got, 10)
	for i, r := range got {
		require.Equal(t, value(i), r.Value, "record %d", i)
		require.Equal(t, uint64(i), r.Offset, "record %d", i)
	}
}

func TestReaderOfRemovedSegmentFails(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), config(0, 3*12, 0))
	appendRecords(t, l, 0, 10)
	reader := l.Reader()

	require.NoError(t, l.Truncate(3))

	_, err := io.ReadAll(reader)
	require.ErrorIs(t, err, storage.ErrClosed)
}

func TestReset(t *testing.T) {
	tests := []struct {
		name          string
		initialOffset uint64
	}{
		{"to 0", 0},
		{"to 100", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testenv.TempDir(t)
			c := config(0, 3*12, tt.initialOffset)
			l := openLog(t, dir, c)
			appendRecords(t, l, 0, 10)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644))
			reader := l.Reader()
			changed := l.Appended()

			require.NoError(t, l.Reset())

			require.Equal(t, tt.initialOffset, l.LowestOffset())
			require.Equal(t, tt.initialOffset, l.NextOffset())
			_, err := l.HighestOffset()
			require.ErrorIs(t, err, storage.ErrEmpty)
			_, err = l.Read(tt.initialOffset)
			require.ErrorAs(t, err, new(storage.ErrOffsetOutOfRange))
			require.Len(t, storeFiles(t, dir), 1)
			require.FileExists(t, filepath.Join(dir, "notes.txt"), "Reset removes only the log's files")
			requireClosed(t, changed, "Reset wakes Appended waiters")
			_, err = io.ReadAll(reader)
			require.ErrorIs(t, err, storage.ErrClosed)

			appendRecords(t, l, 0, 5)
			requireRecords(t, l, tt.initialOffset, 0, 5)
			require.NoError(t, l.Close())
			l = openLog(t, dir, c)
			requireRecords(t, l, tt.initialOffset, 0, 5)
		})
	}
}

func TestRemove(t *testing.T) {
	dir := filepath.Join(testenv.TempDir(t), "log")
	l := openLog(t, dir, storage.Config{})
	appendRecords(t, l, 0, 3)

	require.NoError(t, l.Remove())

	require.NoDirExists(t, dir)
	_, err := l.Read(0)
	require.ErrorIs(t, err, storage.ErrClosed)
	require.ErrorIs(t, l.Remove(), storage.ErrClosed)
	require.NoError(t, l.Close())
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, storage.Config{})

	_, err := storage.NewLog(dir, storage.Config{})
	require.ErrorIs(t, err, storage.ErrInUse)

	require.NoError(t, l.Close())
	openLog(t, dir, storage.Config{}) // released by Close
}

func TestClosedLog(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), config(0, 0, 0))
	appendRecords(t, l, 0, 3)
	changed := l.Appended()

	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")

	requireClosed(t, changed, "Close wakes Appended waiters")
	requireClosed(t, l.Appended(), "Appended after Close")
	require.Equal(t, uint64(0), l.LowestOffset())
	require.Equal(t, uint64(3), l.NextOffset())
	_, err := l.Reader().Read(make([]byte, 1))
	require.ErrorIs(t, err, storage.ErrClosed)
	ops := []struct {
		name string
		op   func() error
	}{
		{"Append", func() error { _, err := l.Append(&storage.Record{Value: []byte("x")}); return err }},
		{"Read", func() error { _, err := l.Read(0); return err }},
		{"HighestOffset", func() error { _, err := l.HighestOffset(); return err }},
		{"Truncate", func() error { return l.Truncate(1) }},
		{"Sync", l.Sync},
		{"Reset", l.Reset},
		{"Remove", l.Remove},
	}
	for _, tt := range ops {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.op(), storage.ErrClosed)
		})
	}
}

func TestAppendedIsClosedByAppend(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), storage.Config{})
	changed := l.Appended()
	requireOpen(t, changed, "before any append")
	woken := make(chan struct{})
	go func() {
		<-changed
		close(woken)
	}()

	appendRecords(t, l, 0, 1)

	requireClosed(t, changed, "after an append")
	<-woken
	requireOpen(t, l.Appended(), "the channel for the next append")
	_, err := l.Append(&storage.Record{Value: make([]byte, 65<<20)})
	require.ErrorIs(t, err, storage.ErrRecordTooLarge)
	requireOpen(t, l.Appended(), "a failed append changes nothing")
}

func TestRecordTooLarge(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, config(64, 0, 0))
	before := snapshot(t, dir)

	_, err := l.Append(&storage.Record{Value: make([]byte, 64)})

	require.ErrorIs(t, err, storage.ErrRecordTooLarge)
	require.Equal(t, uint64(0), l.NextOffset())
	require.Equal(t, before, snapshot(t, dir), "nothing is written")
	appendRecords(t, l, 0, 1)
	requireRecords(t, l, 0, 0, 1)
}

func TestSync(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, config(0, 3*12, 0))
	appendRecords(t, l, 0, 5)

	require.NoError(t, l.Sync())

	copied := openLog(t, crashCopy(t, dir), storage.Config{})
	requireRecords(t, copied, 0, 0, 5)
}

// requireClosed checks that ch is closed, without waiting.
func requireClosed(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	default:
		require.Fail(t, "channel not closed", msg)
	}
}

// requireOpen checks that ch is not closed, without waiting.
func requireOpen(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
		require.Fail(t, "channel closed", msg)
	default:
	}
}

func TestInitialOffsetIgnoredOnReopen(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, config(0, 0, 10))
	appendRecords(t, l, 0, 2)
	require.NoError(t, l.Close())

	l = openLog(t, dir, config(0, 0, 500))

	require.Equal(t, uint64(10), l.LowestOffset(), "the segments on disk win")
	require.Equal(t, uint64(12), l.NextOffset())
}
