package storage_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// TestPowerLoss runs random sequences of appends, syncs, truncations (both ends),
// snapshots (Pin and Link) and clean restarts on a log with tiny segments, over a
// powerDisk, and cuts the power at a random moment: just before one of the flushes, in
// the middle of whatever operation asked for it, or between two operations. Then it
// opens what the disk might have kept, and checks that
//
//   - the log opens: a power loss must never leave a log that refuses to open;
//   - every record acknowledged before the cut (appended, then Sync or Close returned)
//     is there, at its offset, unless a truncation asked to remove it;
//   - every record there is one that was written at that offset and not durably
//     removed since (TruncateFrom had not returned): no record that was never written,
//     none resurrected, no garbage, and every offset between the lowest and the next
//     can be read.
//
// Each seed is a subtest: go test -run 'TestPowerLoss/seed=17' replays one.
// GOLOG_POWERLOSS_RUNS=5000 runs more seeds than the 300 of a normal run.
func TestPowerLoss(t *testing.T) {
	runs := 300
	if testing.Short() {
		runs = 40
	}
	if s := os.Getenv("GOLOG_POWERLOSS_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "GOLOG_POWERLOSS_RUNS")
		runs = n
	}
	for seed := range uint64(runs) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			powerLossRun(t, seed)
		})
	}
}

// powerModel is what the test knows the log may and must hold.
type powerModel struct {
	current map[uint64]string          // what the live log holds now
	allowed map[uint64]map[string]bool // what a crash may leave at each offset
	acked   map[uint64]string          // what a crash must leave, from the offset floor on
	floor   uint64                     // records below it may be gone (Truncate asked)
}

func (m *powerModel) allow(off uint64, v string) {
	if m.allowed[off] == nil {
		m.allowed[off] = make(map[string]bool)
	}
	m.allowed[off][v] = true
}

// frozen is the model at the moment of the cut.
type frozen struct {
	allowed map[uint64]map[string]bool
	acked   map[uint64]string
	floor   uint64
	when    string
}

func (m *powerModel) freeze(when string) frozen {
	allowed := make(map[uint64]map[string]bool, len(m.allowed))
	for off, vs := range m.allowed {
		allowed[off] = maps.Clone(vs)
	}
	return frozen{allowed: allowed, acked: maps.Clone(m.acked), floor: m.floor, when: when}
}

func powerLossRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	dir := testenv.TempDir(t)
	disk := newPowerDisk(t, dir)
	c := config(uint64(200+rng.IntN(400)), 12*uint64(2+rng.IntN(6)), 0)
	c.Disk = disk
	c.Logger = testenv.Logger(t)

	m := &powerModel{current: map[uint64]string{}, allowed: map[uint64]map[string]bool{}, acked: map[uint64]string{}}
	crashDir := testenv.TempDir(t)
	var cut *frozen
	var op string // the operation running, for the report
	doCut := func(when string) {
		if cut != nil {
			return
		}
		f := m.freeze(when)
		cut = &f
		disk.cut(rng, crashDir)
	}
	cutFlush := 1 + rng.IntN(150)
	disk.onFlush = func(n int) {
		if n == cutFlush {
			doCut(fmt.Sprintf("before flush %d, during %s", n, op))
		}
	}

	l, err := storage.NewLog(dir, c)
	require.NoError(t, err)
	var pin *storage.Pin
	ops := 40 + rng.IntN(60)
	cutBetween := rng.IntN(ops + 1)
	for i := range ops {
		if i == cutBetween {
			doCut(fmt.Sprintf("between operations, after %s", op))
		}
		lowest, next := l.LowestOffset(), l.NextOffset()
		switch k := rng.IntN(100); {
		case k < 55:
			v := fmt.Sprintf("s%d-%d-%s", seed, i, filler(rng))
			op = fmt.Sprintf("append %d", next)
			m.allow(next, v)
			off, err := l.Append(&storage.Record{Value: []byte(v)})
			require.NoError(t, err, op)
			require.Equal(t, next, off, op)
			m.current[off] = v
		case k < 75:
			op = "sync"
			require.NoError(t, l.Sync())
			m.acked = maps.Clone(m.current)
		case k < 82:
			to := lowest + uint64(rng.IntN(int(next-lowest)+1))
			op = fmt.Sprintf("truncate below %d", to)
			m.floor = max(m.floor, to)
			require.NoError(t, l.Truncate(to), op)
			for off := range m.current {
				if off < l.LowestOffset() {
					delete(m.current, off)
				}
			}
		case k < 88 && pin == nil:
			from := lowest + uint64(rng.IntN(int(next-lowest)+1))
			op = fmt.Sprintf("truncate from %d", from)
			for off := range m.acked { // no longer required from here on
				if off >= from {
					delete(m.acked, off)
				}
			}
			require.NoError(t, l.TruncateFrom(from), op)
			for off := range m.current {
				if off >= from {
					delete(m.current, off)
					delete(m.allowed, off) // durably gone
				}
			}
		case k < 94:
			op = "snapshot"
			if pin != nil {
				require.NoError(t, pin.Release())
				pin = nil
				break
			}
			pin, err = l.Pin()
			require.NoError(t, err)
			require.NoError(t, pin.Link(testenv.TempDir(t)))
		default:
			op = "restart"
			if pin != nil {
				require.NoError(t, pin.Release())
				pin = nil
			}
			require.NoError(t, l.Close())
			m.acked = maps.Clone(m.current)
			l, err = storage.NewLog(dir, c)
			require.NoError(t, err, "reopen after a clean close")
		}
	}
	doCut(fmt.Sprintf("at the end, after %s", op))
	if pin != nil {
		require.NoError(t, pin.Release())
	}
	require.NoError(t, l.Close())
	checkAfterPowerLoss(t, crashDir, *cut)
}

func checkAfterPowerLoss(t *testing.T, dir string, want frozen) {
	t.Helper()
	c := config(0, 0, 0)
	c.Logger = testenv.Logger(t)
	l, err := storage.NewLog(dir, c)
	require.NoError(t, err, "open after a power loss %s", want.when)
	defer func() { require.NoError(t, l.Close()) }()

	lowest, next := l.LowestOffset(), l.NextOffset()
	for off := lowest; off < next; off++ {
		r, err := l.Read(off)
		require.NoError(t, err, "read offset %d of [%d, %d) after a power loss %s", off, lowest, next, want.when)
		require.Equal(t, off, r.Offset)
		require.True(t, want.allowed[off][string(r.Value)],
			"offset %d holds %q, never written there or durably removed (power loss %s)", off, r.Value, want.when)
	}
	for off, v := range want.acked {
		if off < want.floor {
			continue
		}
		require.True(t, off >= lowest && off < next,
			"acknowledged offset %d (%q) lost: the log holds [%d, %d) after a power loss %s", off, v, lowest, next, want.when)
		r, err := l.Read(off)
		require.NoError(t, err)
		require.Equal(t, v, string(r.Value), "acknowledged offset %d after a power loss %s", off, want.when)
	}
}

// filler returns 0 to 120 random letters, so that frames straddle sectors and segments.
func filler(rng *rand.Rand) string {
	b := make([]byte, rng.IntN(121))
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}
