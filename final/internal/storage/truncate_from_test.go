package storage_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// replacement returns the value the TruncateFrom tests write over removed record i.
func replacement(i int) []byte {
	return fmt.Appendf(nil, "new-%03d", i)
}

func TestTruncateFrom(t *testing.T) {
	// Ten records, three per segment: segments start at 0, 3, 6 and 9 (the active one).
	tests := []struct {
		name     string
		truncate uint64 // Truncate(truncate) first; 0 removes nothing
		from     uint64
		wantNext uint64
		segments int // store files left
	}{
		{name: "inside the active segment", from: 9, wantNext: 9, segments: 4},
		{name: "inside an old segment", from: 7, wantNext: 7, segments: 3},
		{name: "at the start of an old segment", from: 6, wantNext: 6, segments: 3},
		{name: "inside the first segment", from: 1, wantNext: 1, segments: 1},
		{name: "everything", from: 0, wantNext: 0, segments: 1},
		{name: "below the lowest offset", truncate: 6, from: 2, wantNext: 6, segments: 1},
		{name: "at the next offset", from: 10, wantNext: 10, segments: 4},
		{name: "past the next offset", from: 42, wantNext: 10, segments: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testenv.TempDir(t)
			c := config(0, 3*12, 0)
			l := openLog(t, dir, c)
			appendRecords(t, l, 0, 10)
			require.NoError(t, l.Truncate(tt.truncate))
			lowest := l.LowestOffset()

			require.NoError(t, l.TruncateFrom(tt.from))

			require.Equal(t, tt.wantNext, l.NextOffset(), "NextOffset after TruncateFrom(%d)", tt.from)
			require.Equal(t, lowest, l.LowestOffset(), "TruncateFrom leaves the oldest records")
			require.Len(t, storeFiles(t, dir), tt.segments)
			requireRecords(t, l, 0, int(lowest), int(tt.wantNext))
			_, err := l.Read(tt.wantNext)
			require.ErrorAs(t, err, new(storage.ErrOffsetOutOfRange), "Read(%d) after TruncateFrom", tt.wantNext)

			// Appends reuse the removed offsets, and the segment cut into fills and rolls
			// as an active segment should.
			for i := int(tt.wantNext); i < 20; i++ {
				off, err := l.Append(&storage.Record{Value: replacement(i)})
				require.NoError(t, err)
				require.Equal(t, uint64(i), off)
			}
			requireReplaced := func(l *storage.Log) {
				t.Helper()
				requireRecords(t, l, 0, int(lowest), int(tt.wantNext))
				for i := int(tt.wantNext); i < 20; i++ {
					r, err := l.Read(uint64(i))
					require.NoError(t, err, "Read(%d)", i)
					require.Equal(t, replacement(i), r.Value, "Read(%d)", i)
				}
			}
			requireReplaced(l)

			// What is on disk right now, as a crash would leave it, opens the same.
			crashed := openLog(t, crashCopy(t, dir), c)
			requireReplaced(crashed)
			// And so does a clean close and reopen.
			require.NoError(t, l.Close())
			l = openLog(t, dir, c)
			require.Equal(t, lowest, l.LowestOffset())
			require.Equal(t, uint64(20), l.NextOffset())
			requireReplaced(l)
		})
	}
}

func TestTruncateFromWakesWaiters(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), storage.Config{})
	appendRecords(t, l, 0, 3)
	changed := l.Appended()

	require.NoError(t, l.TruncateFrom(1))

	select {
	case <-changed:
	default:
		t.Fatal("TruncateFrom did not close the Appended channel")
	}
}

func TestTruncateFromNothingKeepsWaiting(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), storage.Config{})
	appendRecords(t, l, 0, 3)
	changed := l.Appended()

	require.NoError(t, l.TruncateFrom(3))

	select {
	case <-changed:
		t.Fatal("TruncateFrom that removed nothing closed the Appended channel")
	default:
	}
}

func TestTruncateFromClosedLog(t *testing.T) {
	l := openLog(t, testenv.TempDir(t), storage.Config{})
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.TruncateFrom(0), storage.ErrClosed)
}
