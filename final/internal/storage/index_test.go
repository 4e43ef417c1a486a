package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name          string
		maxIndexBytes uint64
		want          uint64
		wantErr       bool
	}{
		{name: "default", maxIndexBytes: 0, want: 12 << 20},
		{name: "one entry", maxIndexBytes: 12, want: 12},
		{name: "rounded down", maxIndexBytes: 30, want: 24},
		{name: "capped at 2^32 entries", maxIndexBytes: 1 << 40, want: (1 << 32) * 12},
		{name: "less than an entry", maxIndexBytes: 11, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.Segment.MaxIndexBytes = tt.maxIndexBytes

			got, err := c.withDefaults()

			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got.Segment.MaxIndexBytes)
			require.Equal(t, uint64(64<<20), got.Segment.MaxStoreBytes)
			require.NotNil(t, got.Logger)
		})
	}
}

func TestOpenIndexRebuildsFromPositions(t *testing.T) {
	tests := []struct {
		name          string
		file          []byte // what the index file holds before
		wantRewritten int
	}{
		{name: "no file", file: nil, wantRewritten: 2}, // entry 0 is (0, 0), like zeros
		{name: "garbage", file: bytes.Repeat([]byte{0xff}, 100), wantRewritten: 3},
		{name: "right entries, full size after a crash",
			file: append(entries(0, 10, 25), make([]byte, 1000)...), wantRewritten: 0},
		{name: "one wrong entry", file: entries(0, 11, 25), wantRewritten: 1},
		{name: "shorter than its entries", file: entries(0, 10), wantRewritten: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(testenv.TempDir(t), "0.index")
			if tt.file != nil {
				require.NoError(t, os.WriteFile(path, tt.file, 0o644))
			}

			idx, repair, err := openIndex(path, []uint64{0, 10, 25}, 5)

			require.NoError(t, err)
			require.Equal(t, tt.wantRewritten, repair.rewritten)
			require.Equal(t, uint64(3), idx.len())
			require.Equal(t, uint64(5), idx.cap())
			for n, want := range []uint64{0, 10, 25} {
				pos, err := idx.entry(uint64(n))
				require.NoError(t, err)
				require.Equal(t, want, pos)
			}
			require.NoError(t, idx.close())
			on, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, entries(0, 10, 25), on, "closed, the file is exactly its entries")
		})
	}
}

func TestIndexEntryCheck(t *testing.T) {
	path := filepath.Join(testenv.TempDir(t), "0.index")
	idx, _, err := openIndex(path, []uint64{0, 10}, 2)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, idx.close()) })

	idx.mmap[3] = 7 // entry 0 now says relative offset 7

	_, err = idx.entry(0)
	require.ErrorIs(t, err, ErrCorrupt)
}

// entries encodes index entries for these store positions.
func entries(positions ...uint64) []byte {
	var b []byte
	for n, pos := range positions {
		b = append(b, 0, 0, 0, byte(n), 0, 0, 0, 0, 0, 0, 0, byte(pos))
	}
	return b
}
