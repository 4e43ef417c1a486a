package consensus

// Commands, the producer table and the fsm are not exported, so these tests are in
// package consensus. They share the test binary, and its TestMain, with the package's
// external tests.

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendCommandRoundTrip(t *testing.T) {
	batches := []batch{
		{producer: "p1", ordered: true, sequence: 7, values: [][]byte{[]byte("a"), {}, []byte("ccc")}},
		{values: [][]byte{[]byte("no producer")}},
	}
	data, err := encodeAppend(-42, batches)
	require.NoError(t, err)

	typ, err := commandOf(data)
	require.NoError(t, err)
	require.Equal(t, appendCommand, typ)
	cmd, err := decodeAppend(data)
	require.NoError(t, err)
	require.Equal(t, int64(-42), cmd.time)
	require.Len(t, cmd.batches, 2)
	for i, b := range batches {
		require.Equal(t, b.producer, cmd.batches[i].producer, "batch %d", i)
		require.Equal(t, b.sequence, cmd.batches[i].sequence, "batch %d", i)
		require.Equal(t, b.ordered, cmd.batches[i].ordered, "batch %d", i)
		require.Len(t, cmd.batches[i].values, len(b.values), "batch %d", i)
		for j, v := range b.values {
			require.Equal(t, string(v), string(cmd.batches[i].values[j]), "batch %d, value %d", i, j)
		}
	}
}

func TestTruncateCommandRoundTrip(t *testing.T) {
	data := encodeTruncate(1234)
	typ, err := commandOf(data)
	require.NoError(t, err)
	require.Equal(t, truncateCommand, typ)
	lowest, err := decodeTruncate(data)
	require.NoError(t, err)
	require.Equal(t, uint64(1234), lowest)
}

// Every cut of a valid command, and a byte too many, is refused with errBadCommand:
// a command that does not decode is never half applied.
func TestMalformedCommandsAreRefused(t *testing.T) {
	data, err := encodeAppend(1, []batch{{producer: "p", sequence: 1, values: [][]byte{[]byte("value")}}})
	require.NoError(t, err)
	for n := 2; n < len(data); n++ {
		_, err := decodeAppend(data[:n])
		require.ErrorIs(t, err, errBadCommand, "the first %d bytes", n)
	}
	_, err = decodeAppend(append(data, 0))
	require.ErrorIs(t, err, errBadCommand, "a byte too many")

	for _, bad := range [][]byte{nil, {commandVersion}, {commandVersion + 1, byte(appendCommand)}} {
		_, err := commandOf(bad)
		require.ErrorIs(t, err, errBadCommand, "%x", bad)
	}
	_, err = decodeTruncate(encodeTruncate(1)[:9])
	require.ErrorIs(t, err, errBadCommand)
}

// A count that promises more than the command holds is refused before anything is
// allocated for it.
func TestCommandCountsAreChecked(t *testing.T) {
	data, err := encodeAppend(1, []batch{{values: [][]byte{[]byte("v")}}})
	require.NoError(t, err)
	huge := append([]byte(nil), data...)
	huge[10], huge[11], huge[12], huge[13] = 0xff, 0xff, 0xff, 0xff // batches
	_, err = decodeAppend(huge)
	require.ErrorIs(t, err, errBadCommand)
}

func FuzzDecodeAppend(f *testing.F) {
	seed, err := encodeAppend(5, []batch{{producer: "p", sequence: 3, values: [][]byte{[]byte("x"), []byte("yz")}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{commandVersion, byte(appendCommand)})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := decodeAppend(data)
		if err != nil {
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("error %v does not wrap errBadCommand", err)
			}
			return
		}
		// What decodes encodes back to the same bytes.
		again, err := encodeAppend(cmd.time, cmd.batches)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(data) {
			t.Fatalf("decode then encode changed %x into %x", data, again)
		}
	})
}

func TestProducerTable(t *testing.T) {
	tbl := newProducerTable()
	_, dup, err := tbl.lookup("p", 1, false)
	require.NoError(t, err)
	require.False(t, dup, "an unknown producer's batch is new")

	tbl.record("p", seqResult{seq: 1, first: 10, count: 2}, 100)
	r, dup, err := tbl.lookup("p", 1, false)
	require.NoError(t, err)
	require.True(t, dup)
	require.Equal(t, seqResult{seq: 1, first: 10, count: 2}, r)

	_, dup, err = tbl.lookup("p", 3, false)
	require.NoError(t, err)
	require.False(t, dup, "a later sequence number is new, gaps or not")
	tbl.record("p", seqResult{seq: 3, first: 12, count: 1}, 101)
	_, dup, err = tbl.lookup("p", 2, false)
	require.NoError(t, err)
	require.False(t, dup, "2 was never applied, and the table remembers everything since 1")
}

// Once a producer has more batches than the window, the oldest are forgotten, and a
// sequence number older than every one remembered is refused: the log cannot tell.
func TestProducerTableWindow(t *testing.T) {
	tbl := newProducerTable()
	for seq := uint64(1); seq <= producerWindow+5; seq++ {
		tbl.record("p", seqResult{seq: seq, first: seq * 10, count: 1}, seq)
	}
	_, _, err := tbl.lookup("p", 5, false)
	require.ErrorIs(t, err, ErrSequenceTooOld)
	r, dup, err := tbl.lookup("p", 6, false)
	require.NoError(t, err)
	require.True(t, dup, "the oldest remembered")
	require.Equal(t, uint64(60), r.first)
}

// When the table is full, the producer heard from least recently is forgotten, the same
// one on every server whatever the map's order.
func TestProducerTableForgetsTheLeastRecent(t *testing.T) {
	tbl := newProducerTable()
	for i := range maxProducers {
		tbl.record(fmt.Sprintf("p%05d", i), seqResult{seq: 1}, uint64(1000+i))
	}
	tbl.record("p00000", seqResult{seq: 2}, 9999) // p00000 is now the most recent
	tbl.record("new", seqResult{seq: 1}, 10000)

	require.Len(t, tbl.byID, maxProducers)
	require.Contains(t, tbl.byID, "p00000")
	require.NotContains(t, tbl.byID, "p00001", "the least recent")
	require.Contains(t, tbl.byID, "new")
}

func TestProducerTableEncoding(t *testing.T) {
	tbl := newProducerTable()
	tbl.record("a", seqResult{seq: 1, first: 0, count: 3}, 5)
	tbl.record("a", seqResult{seq: 2, first: 3, count: 1}, 6)
	tbl.record("b", seqResult{seq: 9, first: 4, count: 2}, 7)

	d := decoder{b: tbl.encode(nil)}
	back, err := decodeProducers(&d)
	require.NoError(t, err)
	require.Empty(t, d.b)
	require.Equal(t, tbl.byID, back.byID)

	clone := tbl.clone()
	clone.record("a", seqResult{seq: 3}, 8)
	require.Len(t, tbl.byID["a"].recent, 2, "a clone shares nothing")
}

// An ordered batch must follow its producer's latest: a gap is refused, a retry of one
// remembered is a duplicate, and a producer's first batch starts anywhere.
func TestProducerTableOrdered(t *testing.T) {
	tbl := newProducerTable()
	_, dup, err := tbl.lookup("p", 7, true)
	require.NoError(t, err, "a producer's first batch")
	require.False(t, dup)
	tbl.record("p", seqResult{seq: 7, first: 0, count: 1}, 1)

	_, _, err = tbl.lookup("p", 9, true)
	require.ErrorIs(t, err, ErrSequenceGap)
	_, _, err = tbl.lookup("p", 9, false)
	require.NoError(t, err, "an unordered batch may leave a gap")
	_, dup, err = tbl.lookup("p", 8, true)
	require.NoError(t, err)
	require.False(t, dup)
	_, dup, err = tbl.lookup("p", 7, true)
	require.NoError(t, err)
	require.True(t, dup, "a retry")
}
