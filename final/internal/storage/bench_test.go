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

// BenchmarkAppend appends records to a log with the default segment sizes (1 MiB), so
// rolling to new segments is part of the cost; no Sync.
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
