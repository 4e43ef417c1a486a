package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// FuzzOpenDir opens a log directory made of arbitrary bytes: two segments, each a store
// and an index, cut out of the input. Whatever the bytes, NewLog must not panic: it
// refuses with ErrCorrupt, or opens a log in which every offset from the lowest to the
// next reads back as a record with that offset (or ErrCorrupt), and reading the log
// from the start yields those same records in order. Nothing is made up: every record
// read is one whose frame the input holds.
func FuzzOpenDir(f *testing.F) {
	segment := func(base uint64, values ...string) (store, index []byte) {
		var pos uint64
		for i, v := range values {
			p, _ := marshalRecord(&Record{Value: []byte(v), Offset: base + uint64(i)})
			frame := EncodeFrame(p)
			store = append(store, frame...)
			index = binary.BigEndian.AppendUint32(index, uint32(i))
			index = binary.BigEndian.AppendUint64(index, pos)
			pos += uint64(len(frame))
		}
		return store, index
	}
	s0, i0 := segment(0, "zero", "one")
	s1, i1 := segment(2, "two")
	f.Add(s0, i0, s1, i1)
	f.Add(s0, i0, s1[:len(s1)-2], i1)
	f.Add(s0, []byte{}, s1, i1)
	f.Add(s0[:5], i0, s1, i1)
	f.Add(s0, i0, []byte{}, []byte{})
	f.Add(s0, i1, s1, i0)
	f.Fuzz(func(t *testing.T, store0, index0, store1, index1 []byte) {
		dir := t.TempDir()
		for name, data := range map[string][]byte{
			segmentName(0, storeSuffix): store0, segmentName(0, indexSuffix): index0,
			segmentName(2, storeSuffix): store1, segmentName(2, indexSuffix): index1,
		} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		}
		// A small index keeps each run fast: the active segment's index file is
		// allocated at its full size.
		l, err := NewLog(dir, Config{Segment: SegmentConfig{MaxIndexBytes: 64 * entryWidth}})
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		defer func() { require.NoError(t, l.Close()) }()
		var read []*Record
		for off := l.LowestOffset(); off < l.NextOffset(); off++ {
			r, err := l.Read(off)
			if err != nil {
				require.ErrorIs(t, err, ErrCorrupt)
				return // the scan below would stop there too
			}
			require.Equal(t, off, r.Offset)
			frame := EncodeFrame(mustMarshal(t, r))
			require.True(t, bytes.Contains(store0, frame) || bytes.Contains(store1, frame),
				"offset %d: a record whose frame the input does not hold", off)
			read = append(read, r)
		}
		s := NewScanner(l.Reader())
		var scanned int
		for s.Scan() {
			require.Less(t, scanned, len(read), "the reader yields more records than Read found")
			require.True(t, proto.Equal(read[scanned], s.Record()), "record %d", scanned)
			scanned++
		}
		if err := s.Err(); err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.Equal(t, len(read), scanned)
	})
}

func mustMarshal(t *testing.T, r *Record) []byte {
	p, err := marshalRecord(r)
	require.NoError(t, err)
	return p
}

// FuzzDecodeRecord decodes arbitrary bytes as a record's payload: an error, never a
// panic; and what decodes encodes to bytes that decode to the same record.
func FuzzDecodeRecord(f *testing.F) {
	p, _ := marshalRecord(&Record{Value: []byte("hello"), Offset: 7})
	f.Add(p)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := unmarshalRecord(data)
		if err != nil {
			require.Nil(t, r)
			require.False(t, errors.Is(err, nil))
			return
		}
		again, err := unmarshalRecord(mustMarshal(t, r))
		require.NoError(t, err)
		require.True(t, proto.Equal(r, again))
	})
}
