package storage

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// frame encodes payload as a store frame.
func frame(payload []byte) []byte {
	f := make([]byte, frameHeaderSize, frameHeaderSize+len(payload))
	binary.BigEndian.PutUint32(f, uint32(len(payload)))
	binary.BigEndian.PutUint32(f[frameLengthSize:], frameChecksum(f[:frameLengthSize], payload))
	return append(f, payload...)
}

// frames concatenates the frames of the payloads.
func frames(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, frame(p)...)
	}
	return b
}

// damaged returns a copy of b with the byte at i inverted.
func damaged(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0xff
	return b
}

func TestDecodeFrame(t *testing.T) {
	good := frame([]byte("payload"))
	tests := []struct {
		name   string
		frame  []byte
		wantOK bool
	}{
		{"intact", good, true},
		{"intact, empty payload", frame(nil), true},
		{"all zeros is not a frame", make([]byte, frameHeaderSize), false},
		{"shorter than a header", good[:5], false},
		{"payload cut short", good[:len(good)-1], false},
		{"extra byte", append(bytes.Clone(good), 0), false},
		{"length damaged", damaged(good, 3), false},
		{"checksum damaged", damaged(good, 5), false},
		{"payload damaged", damaged(good, 10), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, ok := decodeFrame(tt.frame)

			require.Equal(t, tt.wantOK, ok)
			if ok {
				require.Equal(t, tt.frame[frameHeaderSize:], payload)
			}
		})
	}
}

func TestStoreScan(t *testing.T) {
	a, b, c := []byte("first"), bytes.Repeat([]byte("second"), 3), []byte("third!")
	abc := frames(a, b, c)
	posB, posC := uint64(len(frame(a))), uint64(len(frames(a, b)))
	big := bytes.Repeat([]byte{7}, 3*scanBufferSize) // frames larger than the scan buffer
	bigs := frames(big, big, big)
	bigFrame := uint64(len(frame(big)))

	tests := []struct {
		name          string
		file          []byte
		wantPositions []uint64
		wantEnd       uint64
		wantCorrupt   bool
	}{
		{name: "empty", file: nil, wantPositions: nil, wantEnd: 0},
		{name: "intact", file: abc, wantPositions: []uint64{0, posB, posC}, wantEnd: uint64(len(abc))},
		{name: "torn header", file: abc[:posC+5], wantPositions: []uint64{0, posB}, wantEnd: posC},
		{name: "torn payload", file: abc[:len(abc)-1], wantPositions: []uint64{0, posB}, wantEnd: posC},
		{name: "last frame damaged", file: damaged(abc, len(abc)-1), wantPositions: []uint64{0, posB}, wantEnd: posC},
		{name: "zeros after", file: append(bytes.Clone(abc), make([]byte, 1000)...),
			wantPositions: []uint64{0, posB, posC}, wantEnd: uint64(len(abc))},
		{name: "only zeros", file: make([]byte, 1000), wantPositions: nil, wantEnd: 0},
		{name: "big frames, last torn", file: bigs[:len(bigs)-10],
			wantPositions: []uint64{0, bigFrame}, wantEnd: 2 * bigFrame},
		{name: "first frame damaged", file: damaged(abc, 10), wantCorrupt: true},
		{name: "middle payload damaged", file: damaged(abc, int(posB)+10), wantCorrupt: true},
		{name: "middle length points past the end", file: damaged(abc, int(posB)), wantCorrupt: true},
		{name: "middle header zeroed", file: append(append(bytes.Clone(abc[:posB]), make([]byte, 8)...), abc[posB+8:]...),
			wantCorrupt: true},
		{name: "big frames, middle damaged", file: damaged(bigs, int(bigFrame)+100), wantCorrupt: true},
		{name: "big frames, middle length damaged", file: damaged(bigs, int(bigFrame)+3), wantCorrupt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(testenv.TempDir(t), "0.store")
			require.NoError(t, os.WriteFile(path, tt.file, 0o644))
			s, err := openStore(path)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.close()) })

			got, err := s.scan()

			if tt.wantCorrupt {
				require.ErrorIs(t, err, ErrCorrupt)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantPositions, got.positions)
			require.Equal(t, tt.wantEnd, got.end)
			require.Equal(t, uint64(len(tt.file)), got.fileSize)
		})
	}
}

func TestStoreAppendRead(t *testing.T) {
	s, err := createStore(filepath.Join(testenv.TempDir(t), "0.store"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.close()) })
	payloads := [][]byte{[]byte("a"), nil, bytes.Repeat([]byte("b"), 2*maxRetainedFrameBuffer)}
	var positions []uint64
	for _, p := range payloads {
		pos, err := s.append(p)
		require.NoError(t, err)
		positions = append(positions, pos)
	}
	positions = append(positions, s.size)

	for i, want := range payloads {
		got, err := s.read(positions[i], positions[i+1])
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	_, err = s.read(positions[0], positions[2]) // two frames are not one
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = s.read(positions[0], s.size+1)
	require.ErrorIs(t, err, ErrCorrupt)
	on, err := os.ReadFile(s.file.Name())
	require.NoError(t, err)
	require.Equal(t, frames(payloads...), on, "the file is the frames, nothing else")
}

func TestScannerRejectsDamage(t *testing.T) {
	r0, err := marshalRecord(&Record{Value: []byte("zero"), Offset: 0})
	require.NoError(t, err)
	r1, err := marshalRecord(&Record{Value: []byte("one"), Offset: 1})
	require.NoError(t, err)
	stream := frames(r0, r1)
	tests := []struct {
		name        string
		stream      []byte
		wantRecords int
		wantCorrupt bool
	}{
		{name: "intact", stream: stream, wantRecords: 2},
		{name: "empty", stream: nil, wantRecords: 0},
		{name: "ends inside a header", stream: stream[:len(stream)-len(frame(r1))+3], wantRecords: 1, wantCorrupt: true},
		{name: "ends inside a payload", stream: stream[:len(stream)-1], wantRecords: 1, wantCorrupt: true},
		{name: "damaged payload", stream: damaged(stream, len(stream)-1), wantRecords: 1, wantCorrupt: true},
		{name: "huge length", stream: damaged(stream, 0), wantRecords: 0, wantCorrupt: true},
		{name: "payload that is not a record", stream: frame([]byte("abc")), wantRecords: 0, wantCorrupt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewScanner(bytes.NewReader(tt.stream))
			n := 0
			for s.Scan() {
				require.Equal(t, uint64(n), s.Record().Offset)
				n++
			}

			require.Equal(t, tt.wantRecords, n)
			if tt.wantCorrupt {
				require.ErrorIs(t, s.Err(), ErrCorrupt)
			} else {
				require.NoError(t, s.Err())
			}
			require.False(t, s.Scan(), "Scan stays false")
		})
	}
}

// FuzzOpen opens a log whose only store file holds arbitrary bytes. Whatever they are,
// opening must not panic: it either refuses with ErrCorrupt or opens a log whose every
// record reads back or reports ErrCorrupt.
func FuzzOpen(f *testing.F) {
	r0, _ := marshalRecord(&Record{Value: []byte("zero"), Offset: 0})
	r1, _ := marshalRecord(&Record{Value: []byte("one"), Offset: 1})
	good := frames(r0, r1)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(damaged(good, 2))
	f.Add(damaged(good, 12))
	f.Add(append(bytes.Clone(good), make([]byte, 20)...))
	f.Add(frames([]byte("x")))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(0, storeSuffix)), data, 0o644))
		l, err := NewLog(dir, Config{})
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		defer func() { require.NoError(t, l.Close()) }()
		for off := l.LowestOffset(); off < l.NextOffset(); off++ {
			r, err := l.Read(off)
			if err != nil {
				require.ErrorIs(t, err, ErrCorrupt)
				continue
			}
			require.Equal(t, off, r.Offset)
		}
		s := NewScanner(l.Reader())
		for s.Scan() {
		}
		if err := s.Err(); err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
		}
	})
}

// FuzzScanner feeds arbitrary bytes to a Scanner: it must stop with nil or ErrCorrupt,
// never panic.
func FuzzScanner(f *testing.F) {
	r0, _ := marshalRecord(&Record{Value: []byte("zero"), Offset: 0})
	f.Add(frames(r0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScanner(bytes.NewReader(data))
		for s.Scan() {
			require.NotNil(t, s.Record())
		}
		if err := s.Err(); err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
		}
	})
}
