package storage_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// batchRecord returns record i as the batch tests write it: with a time and a Raft
// index, which AppendBatch must keep.
func batchRecord(i int) *storage.Record {
	return &storage.Record{Value: value(i), TimeUnixNano: int64(1e18 + i), RaftIndex: uint64(100 + i/3)}
}

// TestAppendBatchSameAsAppend appends the same records one by one to one log and in
// batches of assorted sizes to another, with segments small enough that batches span
// them (rolled by bytes, then by count): the two directories must hold the same bytes.
func TestAppendBatchSameAsAppend(t *testing.T) {
	for _, c := range []storage.Config{config(200, 0, 0), config(0, 5*12, 7)} {
		t.Run(fmt.Sprintf("store=%d,index=%d", c.Segment.MaxStoreBytes, c.Segment.MaxIndexBytes), func(t *testing.T) {
			oneDir, batchDir := testenv.TempDir(t), testenv.TempDir(t)
			one, batched := openLog(t, oneDir, c), openLog(t, batchDir, c)
			const n = 60
			for i := range n {
				r := batchRecord(i)
				_, err := one.Append(r)
				require.NoError(t, err)
			}
			i := 0
			for _, size := range []int{1, 2, 17, 5, 1, 30, 4} {
				batch := make([]*storage.Record, size)
				for j := range batch {
					batch[j] = batchRecord(i + j)
				}
				want := batched.NextOffset()
				appended := batched.Appended()
				first, err := batched.AppendBatch(batch)
				require.NoError(t, err)
				require.Equal(t, want, first)
				requireClosed(t, appended, "AppendBatch wakes the waiters")
				require.Equal(t, batchRecord(i+size-1), batch[size-1], "AppendBatch does not modify the records")
				i += size
			}
			require.Equal(t, n, i)
			for off := one.LowestOffset(); off < one.NextOffset(); off++ {
				r, err := batched.Read(off)
				require.NoError(t, err)
				want := batchRecord(int(off - one.LowestOffset()))
				require.Equal(t, want.Value, r.Value)
				require.Equal(t, off, r.Offset)
				require.Equal(t, want.TimeUnixNano, r.TimeUnixNano)
				require.Equal(t, want.RaftIndex, r.RaftIndex)
			}
			require.Greater(t, len(storeFiles(t, batchDir)), 3, "the batches spanned segments")
			require.NoError(t, one.Sync())
			require.NoError(t, batched.Sync())
			require.Equal(t, snapshot(t, oneDir), snapshot(t, batchDir))
		})
	}
}

// TestAppendBatchAllOrNothing sends batches that fail part-way, after some of their
// records were written and segments rolled: the log must be as before, and go on.
func TestAppendBatchAllOrNothing(t *testing.T) {
	dir := testenv.TempDir(t)
	c := config(200, 0, 0)
	l := openLog(t, dir, c)
	appendRecords(t, l, 0, 3)

	segments := len(storeFiles(t, dir))
	batch := make([]*storage.Record, 0, 20)
	for i := 3; i < 20; i++ {
		batch = append(batch, &storage.Record{Value: value(i)})
	}
	tooLarge := append(batch, &storage.Record{Value: make([]byte, 200)})
	_, err := l.AppendBatch(tooLarge)
	require.ErrorIs(t, err, storage.ErrRecordTooLarge)
	require.ErrorContains(t, err, "record 18 of 18")
	require.Equal(t, uint64(3), l.NextOffset(), "nothing appended")
	require.Len(t, storeFiles(t, dir), segments, "the segments the batch rolled to are gone")

	_, err = l.AppendBatch(append(batch[:2:2], nil))
	require.ErrorContains(t, err, "nil record")
	require.Equal(t, uint64(3), l.NextOffset())

	_, err = l.AppendBatch(nil)
	require.ErrorContains(t, err, "no records")

	first, err := l.AppendBatch(batch)
	require.NoError(t, err)
	require.Equal(t, uint64(3), first)
	requireRecords(t, l, 0, 0, 20)
	require.NoError(t, l.Close())

	reopened := openLog(t, dir, c)
	requireRecords(t, reopened, 0, 0, 20)
	require.Equal(t, uint64(20), reopened.NextOffset())
}

func TestAppendBatchClosed(t *testing.T) {
	l, err := storage.NewLog(testenv.TempDir(t), storage.Config{})
	require.NoError(t, err)
	require.NoError(t, l.Close())
	_, err = l.AppendBatch([]*storage.Record{{Value: value(0)}})
	require.ErrorIs(t, err, storage.ErrClosed)
}

// TestReadBatch reads a log of several segments in batches and checks them against
// Read, the limits, and the errors.
func TestReadBatch(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, config(200, 0, 5))
	appendRecords(t, l, 0, 40) // a few records a segment

	var got []*storage.Record
	for off := l.LowestOffset(); off < l.NextOffset(); {
		batch, err := l.ReadBatch(off, 3, 1<<20)
		require.NoError(t, err)
		require.NotEmpty(t, batch)
		require.LessOrEqual(t, len(batch), 3)
		got = append(got, batch...)
		off += uint64(len(batch))
	}
	require.Len(t, got, 40)
	for i, r := range got {
		want, err := l.Read(uint64(5 + i))
		require.NoError(t, err)
		require.Equal(t, want.Value, r.Value)
		require.Equal(t, want.Offset, r.Offset)
	}

	all, err := l.ReadBatch(5, 1000, 1<<20)
	require.NoError(t, err)
	require.Less(t, len(all), 40, "a batch stops at the end of its segment")
	one, err := l.ReadBatch(5, 1000, 1)
	require.NoError(t, err)
	require.Len(t, one, 1, "the first record whatever maxBytes says")

	_, err = l.ReadBatch(45, 10, 1<<20)
	var oor storage.ErrOffsetOutOfRange
	require.ErrorAs(t, err, &oor)
	require.Equal(t, uint64(45), oor.Next)
	_, err = l.ReadBatch(4, 10, 1<<20)
	require.ErrorAs(t, err, &oor)
}

// TestReadBatchDamage flips a byte of the second record's frame: a batch that holds
// it fails with ErrCorrupt, and one that starts before it does not hand out the
// first record alone as if nothing were wrong.
func TestReadBatchDamage(t *testing.T) {
	dir := testenv.TempDir(t)
	l := openLog(t, dir, config(0, 0, 0))
	appendRecords(t, l, 0, 3)
	require.NoError(t, l.Sync())
	path := segmentFile(dir, 0, ".store")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	frame := len(b) / 3
	b[frame+frame/2] ^= 0xff
	require.NoError(t, os.WriteFile(path, b, 0o644))

	_, err = l.ReadBatch(0, 3, 1<<20)
	require.ErrorIs(t, err, storage.ErrCorrupt)
	r, err := l.ReadBatch(0, 1, 1<<20)
	require.NoError(t, err, "the first record alone is intact")
	require.Equal(t, value(0), r[0].Value)
}
