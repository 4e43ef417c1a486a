package storage_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// benchValueSizes are the record sizes the benchmarks run with.
var benchValueSizes = []int{64, 1 << 10, 16 << 10}

// BenchmarkAppend appends records to a log with the default segment sizes (64 MiB);
// no Sync: the records are in the operating system's hands, as the data log keeps them.
func BenchmarkAppend(b *testing.B) {
	for _, size := range benchValueSizes {
		b.Run(fmt.Sprintf("value=%dB", size), func(b *testing.B) {
			l := openBenchLog(b)
			r := &storage.Record{Value: bytes.Repeat([]byte{'x'}, size)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead reads, in order and over and over, the records of a log of several
// segments. The files are in the page cache: this measures the log, not the disk.
func BenchmarkRead(b *testing.B) {
	for _, size := range benchValueSizes {
		b.Run(fmt.Sprintf("value=%dB", size), func(b *testing.B) {
			l := openBenchLog(b)
			r := &storage.Record{Value: bytes.Repeat([]byte{'x'}, size)}
			const records = 1000
			for range records {
				_, err := l.Append(r)
				require.NoError(b, err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var off uint64
			for b.Loop() {
				if _, err := l.Read(off); err != nil {
					b.Fatal(err)
				}
				off = (off + 1) % records
			}
		})
	}
}

func openBenchLog(b *testing.B) *storage.Log {
	b.Helper()
	l, err := storage.NewLog(testenv.TempDir(b), storage.Config{Logger: testenv.Logger(b)})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, l.Close()) })
	return l
}

// BenchmarkAppendSync appends records and makes them durable, as the Raft log does:
// one Sync after every record (perWrite=1), or after a group of records that arrived
// together (perWrite=64, group commit). It reports ns per record.
func BenchmarkAppendSync(b *testing.B) {
	for _, group := range []int{1, 64} {
		b.Run(fmt.Sprintf("value=100B/perSync=%d", group), func(b *testing.B) {
			l := openBenchLog(b)
			r := &storage.Record{Value: bytes.Repeat([]byte{'x'}, 100)}
			b.SetBytes(100)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := l.Append(r); err != nil {
					b.Fatal(err)
				}
				if i++; i%group == 0 {
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkOpen opens a log of many sealed segments: it checks them, it does not read
// them, so the cost does not grow with the records they hold.
func BenchmarkOpen(b *testing.B) {
	dir := testenv.TempDir(b)
	c := storage.Config{Segment: storage.SegmentConfig{MaxStoreBytes: 1 << 20}, Logger: testenv.Logger(b)}
	l, err := storage.NewLog(dir, c)
	require.NoError(b, err)
	r := &storage.Record{Value: bytes.Repeat([]byte{'x'}, 1000)}
	for range 64 << 10 { // 64 MiB of records: 64 segments
		_, err := l.Append(r)
		require.NoError(b, err)
	}
	require.NoError(b, l.Close())
	b.ReportAllocs()
	for b.Loop() {
		l, err := storage.NewLog(dir, c)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendBatch appends records in batches, as the state machine appends the
// records of one Raft entry and the Raft log a group of entries: one write per batch.
// Without a Sync (the data log), and with one per batch (the Raft log: group commit).
// It reports ns per record; compare with BenchmarkAppend and BenchmarkAppendSync.
func BenchmarkAppendBatch(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, size := range []int{1, 64, 2048} {
			b.Run(fmt.Sprintf("value=100B/batch=%d/sync=%t", size, sync), func(b *testing.B) {
				l := openBenchLog(b)
				batch := make([]*storage.Record, size)
				for i := range batch {
					batch[i] = &storage.Record{Value: bytes.Repeat([]byte{'x'}, 100), RaftIndex: 1}
				}
				b.SetBytes(100)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if i%size != 0 {
						continue // one batch per size iterations: ns/op is per record
					}
					if _, err := l.AppendBatch(batch); err != nil {
						b.Fatal(err)
					}
					if sync {
						if err := l.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
