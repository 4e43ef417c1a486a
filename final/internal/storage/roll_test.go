package storage

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// frameSize returns how many bytes the record takes in a store at offset off.
func frameSize(t *testing.T, value []byte, off uint64) uint64 {
	t.Helper()
	payload, err := marshalRecord(&Record{Value: value, Offset: off})
	require.NoError(t, err)
	return frameHeaderSize + uint64(len(payload))
}

// testValue returns the value of record i in these tests: all the same size.
func testValue(i int) []byte { return fmt.Appendf(nil, "value-%03d", i) }

// testBase is the first offset of the logs in these tests. An encoding may spend more
// bytes on a larger offset (a varint does); every offset from 1000 to 9999 takes the
// same space, so every record's frame has the same size whatever the encoding.
const testBase = 1000

// newTestLog opens a log with these limits in a new directory, starting at testBase.
func newTestLog(t *testing.T, maxStoreBytes, maxIndexBytes uint64) *Log {
	t.Helper()
	var c Config
	c.Segment.MaxStoreBytes = maxStoreBytes
	c.Segment.MaxIndexBytes = maxIndexBytes
	c.Segment.InitialOffset = testBase
	c.Logger = testenv.Logger(t)
	l, err := NewLog(testenv.TempDir(t), c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

func TestRollsOnMaxStoreBytes(t *testing.T) {
	f := frameSize(t, testValue(0), testBase)
	tests := []struct {
		name              string
		maxStoreBytes     uint64
		recordsPerSegment int
	}{
		{"exactly three frames", 3 * f, 3},
		{"one byte short of four frames", 4*f - 1, 3},
		{"exactly one frame", f, 1},
		{"one byte short of two frames", 2*f - 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newTestLog(t, tt.maxStoreBytes, 0)

			for i := range 10 {
				_, err := l.Append(&Record{Value: testValue(i)})
				require.NoError(t, err)
			}

			for i, s := range l.segments {
				require.Equal(t, testBase+uint64(i*tt.recordsPerSegment), s.base, "segment %d", i)
				require.LessOrEqual(t, s.store.size, tt.maxStoreBytes, "segment %d", s.base)
				if i < len(l.segments)-1 {
					next := frameSize(t, testValue(int(s.next()-testBase)), s.next())
					require.Greater(t, s.store.size+next, tt.maxStoreBytes,
						"segment %d rolled although the next record fitted", s.base)
				}
			}
			for i := range 10 {
				r, err := l.Read(testBase + uint64(i))
				require.NoError(t, err)
				require.Equal(t, testValue(i), r.Value)
			}
		})
	}
}

func TestRecordSizeLimit(t *testing.T) {
	value := make([]byte, 100)
	f := frameSize(t, value, testBase)
	tests := []struct {
		name          string
		maxStoreBytes uint64
		wantErr       error
	}{
		{"frame exactly the segment size", f, nil},
		{"frame one byte over the segment size", f - 1, ErrRecordTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLog(t, tt.maxStoreBytes, 0)

			_, err := l.Append(&Record{Value: value})

			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr != nil {
				require.Equal(t, uint64(testBase), l.NextOffset())
				require.Equal(t, uint64(0), l.segments[0].store.size)
				require.Len(t, l.segments, 1, "a record too large does not roll the log")
			}
		})
	}
}

func TestRolledSegmentIsSealed(t *testing.T) {
	l := newTestLog(t, 0, 100*entryWidth)

	for i := range 101 {
		_, err := l.Append(&Record{Value: testValue(i)})
		require.NoError(t, err)
	}

	require.Len(t, l.segments, 2)
	old := l.segments[0]
	info, err := os.Stat(old.index.file.Name())
	require.NoError(t, err)
	require.Equal(t, int64(100*entryWidth), info.Size(), "the sealed index is trimmed to its entries")
	require.Equal(t, uint64(100), old.index.cap())
	r, err := l.Read(testBase + 99)
	require.NoError(t, err)
	require.Equal(t, testValue(99), r.Value)
}

func TestSyncFlushesEverySegmentWrittenTo(t *testing.T) {
	l := newTestLog(t, 0, 3*entryWidth)
	require.True(t, l.dirUnsynced, "the first segment was created")

	for i := range 7 { // segments testBase, testBase+3 and testBase+6
		_, err := l.Append(&Record{Value: testValue(i)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync())
	for _, s := range l.segments {
		require.False(t, s.unsynced, "segment %d", s.base)
	}
	require.False(t, l.dirUnsynced)

	_, err := l.Append(&Record{Value: testValue(7)})
	require.NoError(t, err)
	unsynced := []bool{}
	for _, s := range l.segments {
		unsynced = append(unsynced, s.unsynced)
	}
	require.Equal(t, []bool{false, false, true}, unsynced, "only the segment appended to since")
}
