package bench_test

import (
	"bytes"
	"context"
	"iter"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golog/client"
	"golog/internal/bench"
)

const (
	nonce = 0x1234abcd
	size  = 64
)

func TestPayload(t *testing.T) {
	a := bench.Payload(nonce, 7, size)
	require.Len(t, a, size)
	assert.Equal(t, a, bench.Payload(nonce, 7, size), "the same record twice")
	assert.NotEqual(t, a, bench.Payload(nonce, 8, size), "two records")
	assert.NotEqual(t, a, bench.Payload(nonce+1, 7, size), "two runs")
	for i, b := range a {
		require.True(t, b >= '0' && b <= 'z' && b != '\\', "byte %d of %q is not plain text", i, a)
	}
	check := &bench.Checker{Nonce: nonce, Size: size}
	require.NoError(t, check.Check(7, a))
	index, ok := check.IndexOf(a)
	assert.True(t, ok)
	assert.Equal(t, uint64(7), index)

	wrong := bytes.Clone(a)
	wrong[size-1]++
	assert.ErrorContains(t, check.Check(7, wrong), "record 7: got")
	assert.Error(t, check.Check(7, a[:size-1]), "a short record")
	assert.Error(t, check.Check(8, a), "another record's bytes")
	_, ok = (&bench.Checker{Nonce: nonce + 1, Size: size}).IndexOf(a)
	assert.False(t, ok, "a record of another run")
}

// fakeLog serves records from a map, from an offset on, in order, as Follow would;
// it ends where the map has no record.
type fakeLog map[uint64][]byte

func (l fakeLog) read(_ context.Context, from uint64) iter.Seq2[client.Record, error] {
	return func(yield func(client.Record, error) bool) {
		for off := from; ; off++ {
			v, ok := l[off]
			if !ok {
				return
			}
			if !yield(client.Record{Offset: off, Value: v}, nil) {
				return
			}
		}
	}
}

// goodLog returns a log holding records 0..n-1 of the run at offsets base.., and the
// acknowledgements of two clients that wrote the even and the odd ones.
func goodLog(base uint64, n int) (fakeLog, bench.Acks) {
	l := fakeLog{}
	acks := make(bench.Acks, 2)
	for i := range uint64(n) {
		l[base+i] = bench.Payload(nonce, i, size)
		acks[i%2] = append(acks[i%2], bench.Ack(i, base+i))
	}
	return l, acks
}

func TestVerify(t *testing.T) {
	verify := func(l fakeLog, acks bench.Acks) (string, error) {
		return bench.Verify(t.Context(), l.read, nonce, size, acks)
	}

	t.Run("right", func(t *testing.T) {
		l, acks := goodLog(10, 20)
		got, err := verify(l, acks)
		require.NoError(t, err)
		assert.Contains(t, got, "20 acknowledged records read back at their offsets 10 to 29")
	})
	t.Run("other writers between", func(t *testing.T) {
		l, _ := goodLog(10, 20)
		// Move the records from offset 15 on up by two: two foreign records at 15, 16.
		for off := uint64(29); off >= 15; off-- {
			l[off+2] = l[off]
		}
		l[15], l[16] = []byte("someone else"), []byte("and again")
		acks := bench.Acks{nil}
		for i := range uint64(20) {
			off := 10 + i
			if off >= 15 {
				off += 2
			}
			acks[0] = append(acks[0], bench.Ack(i, off))
		}
		got, err := verify(l, acks)
		require.NoError(t, err)
		assert.Contains(t, got, "(2 records of other writers between them)")
	})

	failures := map[string]struct {
		spoil func(l fakeLog, acks bench.Acks) bench.Acks
		want  string
	}{
		"a record's bytes changed": {
			spoil: func(l fakeLog, acks bench.Acks) bench.Acks {
				l[17] = bytes.ToUpper(l[17])
				return acks
			},
			want: "offset 17: record 7: got",
		},
		"a record at another's offset": {
			spoil: func(l fakeLog, acks bench.Acks) bench.Acks {
				l[12], l[13] = l[13], l[12]
				return acks
			},
			want: "offset 12: record 2: got",
		},
		"the log ends early": {
			spoil: func(l fakeLog, acks bench.Acks) bench.Acks {
				delete(l, 29)
				return acks
			},
			want: "the log ended at offset 29; record 19 was acknowledged at offset 29",
		},
		"a record missing in the middle": {
			spoil: func(l fakeLog, acks bench.Acks) bench.Acks {
				delete(l, 20)
				return acks
			},
			want: "the log ended at offset 20",
		},
		"an offset given twice": {
			spoil: func(l fakeLog, acks bench.Acks) bench.Acks {
				acks[1][3] = bench.Ack(7, 16) // record 7 at record 6's offset
				return acks
			},
			want: "offset 16 was given to records 6 and 7",
		},
		"an offset given to two clients": {
			spoil: func(l fakeLog, acks bench.Acks) bench.Acks {
				return bench.Acks{{bench.Ack(0, 10), bench.Ack(1, 11)}, {bench.Ack(2, 11)}}
			},
			want: "offset 11 was given to records",
		},
		"a record acknowledged twice": {
			spoil: func(l fakeLog, acks bench.Acks) bench.Acks {
				return bench.Acks{{bench.Ack(0, 10), bench.Ack(1, 11)}, {bench.Ack(1, 12)}}
			},
			want: "record 1 was acknowledged twice",
		},
		"a client's records out of order": {
			spoil: func(l fakeLog, acks bench.Acks) bench.Acks {
				acks[0][2], acks[0][3] = acks[0][3], acks[0][2]
				return acks
			},
			want: "client 0: record 4 was acknowledged at offset 14, not after record 6",
		},
	}
	for name, tc := range failures {
		t.Run(name, func(t *testing.T) {
			l, acks := goodLog(10, 20)
			acks = tc.spoil(l, acks)
			_, err := verify(l, acks)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
