package storage

import (
	"path/filepath"
	"testing"
)

// BenchmarkIndexEntry looks up index entries of a full 1 MiB index (87381 entries),
// in a stride that defeats the CPU caches: the cost of finding where a record is
// before reading it.
func BenchmarkIndexEntry(b *testing.B) {
	const entries = (1 << 20) / entryWidth
	idx, _, err := openIndex(filepath.Join(b.TempDir(), "bench.index"), nil, entries)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = idx.close() })
	for n := range uint64(entries) {
		idx.append(n * 100)
	}
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		if _, err := idx.entry(n); err != nil {
			b.Fatal(err)
		}
		n = (n + 4099) % entries
	}
}
