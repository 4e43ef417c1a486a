package consensus_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/log"
	"golog/internal/testenv"
)

// smallSegments is a configuration whose segments hold four entries, so that the
// tests cross segment boundaries and compact inside segments.
func smallSegments() log.Config {
	var c log.Config
	c.Segment.MaxIndexBytes = 4 * 12
	return c
}

// openLogStore opens the Raft log store in dir, closed when the test ends.
func openLogStore(t *testing.T, dir string, c log.Config) *consensus.LogStore {
	t.Helper()
	c.Logger = testenv.Logger(t)
	s, err := consensus.NewLogStore(dir, c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// entry returns a Raft log entry at index with every field set.
func entry(index, term uint64) *raft.Log {
	return &raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogCommand,
		Data:       fmt.Appendf(nil, "data-%d", index),
		Extensions: fmt.Appendf(nil, "ext-%d", index),
		AppendedAt: time.Unix(1_700_000_000+int64(index), int64(index)),
	}
}

// entries returns entries from index first to last, in term term.
func entries(first, last, term uint64) []*raft.Log {
	var es []*raft.Log
	for i := first; i <= last; i++ {
		es = append(es, entry(i, term))
	}
	return es
}

// requireSameEntry checks that got is want, field by field (AppendedAt as an instant,
// and nil and empty byte slices as equal).
func requireSameEntry(t *testing.T, want, got *raft.Log, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, want.Index, got.Index, msgAndArgs...)
	require.Equal(t, want.Term, got.Term, msgAndArgs...)
	require.Equal(t, want.Type, got.Type, msgAndArgs...)
	require.True(t, bytes.Equal(want.Data, got.Data), "Data: want %q, got %q %v", want.Data, got.Data, msgAndArgs)
	require.True(t, bytes.Equal(want.Extensions, got.Extensions), "Extensions: want %q, got %q %v", want.Extensions, got.Extensions, msgAndArgs)
	require.True(t, want.AppendedAt.Equal(got.AppendedAt), "AppendedAt: want %v, got %v %v", want.AppendedAt, got.AppendedAt, msgAndArgs)
}

// requireIndexes checks FirstIndex and LastIndex.
func requireIndexes(t *testing.T, s raft.LogStore, first, last uint64) {
	t.Helper()
	gotFirst, err := s.FirstIndex()
	require.NoError(t, err)
	gotLast, err := s.LastIndex()
	require.NoError(t, err)
	require.Equal(t, [2]uint64{first, last}, [2]uint64{gotFirst, gotLast}, "[FirstIndex, LastIndex]")
}

func TestLogStoreEmpty(t *testing.T) {
	s := openLogStore(t, testenv.TempDir(t), smallSegments())

	requireIndexes(t, s, 0, 0)
	for _, index := range []uint64{0, 1, 2} {
		var out raft.Log
		// raft compares with ==: the error must be the sentinel itself, not wrapped.
		require.True(t, s.GetLog(index, &out) == raft.ErrLogNotFound, "GetLog(%d) on an empty store", index)
	}
}

func TestLogStoreKeepsEveryField(t *testing.T) {
	dir := testenv.TempDir(t)
	s := openLogStore(t, dir, smallSegments())
	want := []*raft.Log{
		entry(1, 1),
		{Index: 2, Term: 1, Type: raft.LogNoop},
		{Index: 3, Term: 2, Type: raft.LogConfiguration, Data: []byte{0, 1, 2}, AppendedAt: time.Now()},
		{Index: 4, Term: 2, Type: raft.LogBarrier, Extensions: []byte("chunking")},
		{Index: 5, Term: 3, Type: raft.LogCommand, Data: bytes.Repeat([]byte{0xff}, 10_000),
			AppendedAt: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)},
	}
	require.NoError(t, s.StoreLogs(want))

	check := func(s *consensus.LogStore) {
		t.Helper()
		requireIndexes(t, s, 1, 5)
		for _, w := range want {
			var got raft.Log
			require.NoError(t, s.GetLog(w.Index, &got))
			requireSameEntry(t, w, &got, "index %d", w.Index)
		}
	}
	check(s)
	require.NoError(t, s.Close())
	check(openLogStore(t, dir, smallSegments()))
}

func TestLogStoreStoreLogsRefusesGapsAndOverwrites(t *testing.T) {
	tests := []struct {
		name  string
		batch []*raft.Log
	}{
		{"a gap after the last index", entries(7, 8, 2)},
		{"over the last index", entries(5, 6, 2)},
		{"over an older index", entries(2, 2, 2)},
		{"indexes out of sequence", []*raft.Log{entry(6, 2), entry(8, 2)}},
		{"index 0", []*raft.Log{entry(0, 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openLogStore(t, testenv.TempDir(t), smallSegments())
			require.NoError(t, s.StoreLogs(entries(1, 5, 1)))

			require.Error(t, s.StoreLogs(tt.batch))

			// All or nothing: the store is as it was.
			requireIndexes(t, s, 1, 5)
			var got raft.Log
			require.NoError(t, s.GetLog(5, &got))
			requireSameEntry(t, entry(5, 1), &got)
			require.NoError(t, s.StoreLogs(entries(6, 6, 2)), "the next index still works")
		})
	}
}

func TestLogStoreDeleteRange(t *testing.T) {
	// Entries 1 to 10, four per segment: segments start at 1, 5 and 9.
	tests := []struct {
		name        string
		from, to    uint64
		first, last uint64 // 0, 0: empty
	}{
		{"conflicting suffix in the active segment", 10, 10, 1, 9},
		{"conflicting suffix across segments", 3, 10, 1, 2},
		{"suffix past the last index", 7, 100, 1, 6},
		{"compaction to a segment boundary", 1, 4, 5, 10},
		{"compaction inside a segment", 1, 6, 7, 10},
		{"compaction from below the first index", 0, 2, 3, 10},
		{"everything", 1, 10, 0, 0},
		{"more than everything", 0, 100, 0, 0},
		{"nothing stored there", 11, 20, 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testenv.TempDir(t)
			s := openLogStore(t, dir, smallSegments())
			require.NoError(t, s.StoreLogs(entries(1, 10, 1)))

			require.NoError(t, s.DeleteRange(tt.from, tt.to))

			check := func(s *consensus.LogStore) {
				t.Helper()
				requireIndexes(t, s, tt.first, tt.last)
				for i := uint64(0); i <= 12; i++ {
					var got raft.Log
					err := s.GetLog(i, &got)
					if tt.first <= i && i <= tt.last && tt.last != 0 {
						require.NoError(t, err, "GetLog(%d)", i)
						requireSameEntry(t, entry(i, 1), &got)
					} else {
						require.True(t, err == raft.ErrLogNotFound, "GetLog(%d) = %v, want raft.ErrLogNotFound", i, err)
					}
				}
			}
			check(s)
			require.NoError(t, s.Close())
			check(openLogStore(t, dir, smallSegments()))
		})
	}
}

func TestLogStoreDeleteRangeRefusesAGap(t *testing.T) {
	s := openLogStore(t, testenv.TempDir(t), smallSegments())
	require.NoError(t, s.StoreLogs(entries(1, 10, 1)))

	require.ErrorContains(t, s.DeleteRange(3, 7), "would leave a gap")
	requireIndexes(t, s, 1, 10)
}

// After a snapshot is installed, raft deletes every entry and continues after the
// snapshot's index: the empty store starts wherever the next entry says.
func TestLogStoreRestartsAtAnyIndexWhenEmpty(t *testing.T) {
	dir := testenv.TempDir(t)
	s := openLogStore(t, dir, smallSegments())
	require.True(t, s.IsMonotonic())
	require.NoError(t, s.StoreLogs(entries(1, 10, 1)))
	require.NoError(t, s.DeleteRange(1, 10))

	require.NoError(t, s.StoreLogs(entries(101, 103, 5)))

	requireIndexes(t, s, 101, 103)
	var got raft.Log
	require.True(t, s.GetLog(100, &got) == raft.ErrLogNotFound)
	require.NoError(t, s.GetLog(101, &got))
	requireSameEntry(t, entry(101, 5), &got)
	require.NoError(t, s.Close())
	requireIndexes(t, openLogStore(t, dir, smallSegments()), 101, 103)
}

// The first-index file is all that hides the entries compacted away inside a segment,
// so damage to it must never change what the store holds: every single-bit flip, every
// truncation and a byte too many either open the very same store or are refused with
// ErrCorrupt.
func TestLogStoreFirstIndexFileDamage(t *testing.T) {
	dir := testenv.TempDir(t)
	s := openLogStore(t, dir, smallSegments())
	require.NoError(t, s.StoreLogs(entries(1, 10, 1)))
	require.NoError(t, s.DeleteRange(1, 6)) // first index 7, inside the segment of 5 to 8
	require.NoError(t, s.Close())
	want := raft.NewInmemStore()
	require.NoError(t, want.StoreLogs(entries(7, 10, 1)))
	path := filepath.Join(dir, "first-index")
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	type damage struct {
		name    string
		content []byte
	}
	var tests []damage
	for bit := range len(good) * 8 {
		b := bytes.Clone(good)
		b[bit/8] ^= 1 << (bit % 8)
		tests = append(tests, damage{fmt.Sprintf("bit %d flipped", bit), b})
	}
	for n := range len(good) {
		tests = append(tests, damage{fmt.Sprintf("cut to %d bytes", n), good[:n]})
	}
	tests = append(tests, damage{"a byte too many", append(bytes.Clone(good), 0)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, tt.content, 0o644))
			c := smallSegments()
			c.Logger = testenv.Logger(t)

			s, err := consensus.NewLogStore(dir, c)

			if err != nil {
				require.ErrorIs(t, err, log.ErrCorrupt)
				return
			}
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			requireSameStore(t, want, s, 12, "opened with a damaged first-index file")
		})
	}
}

// compactedStores are stores holding entries first to 10 in which raft compacted
// entries away (DeleteRange of the oldest) that stay in the files, below the first
// index: only the first-index file hides them. Segments hold four entries and start at
// 1, 5 and 9. Each opens its store in dir.
var compactedStores = []struct {
	name  string
	first uint64
	open  func(t *testing.T, dir string) *consensus.LogStore
}{
	{"nothing compacted", 1, func(t *testing.T, dir string) *consensus.LogStore {
		s := openLogStore(t, dir, smallSegments())
		require.NoError(t, s.StoreLogs(entries(1, 10, 1)))
		return s
	}},
	{"compacted inside a segment", 7, func(t *testing.T, dir string) *consensus.LogStore {
		// The segment of 1 to 4 goes; 5 and 6 stay in the files.
		s := openLogStore(t, dir, smallSegments())
		require.NoError(t, s.StoreLogs(entries(1, 10, 1)))
		require.NoError(t, s.DeleteRange(1, 6))
		return s
	}},
	{"compacted over several segments", 9, func(t *testing.T, dir string) *consensus.LogStore {
		// As a crash leaves it between writing the first index (9) and removing the old
		// segments: 1 to 8 stay in the files.
		s := openLogStore(t, dir, smallSegments())
		require.NoError(t, s.StoreLogs(entries(1, 10, 1)))
		require.NoError(t, s.Close())
		require.NoError(t, consensus.WriteFirstIndex(dir, 9))
		return openLogStore(t, dir, smallSegments())
	}},
}

// A first index past the end of the log's records can only be damage; past the end of
// an empty log, it is what a restart cut short leaves (see TestLogStoreRestartCrashPoints),
// and must not hide the entries stored next.
func TestLogStoreFirstIndexPastTheEnd(t *testing.T) {
	t.Run("a log that holds entries", func(t *testing.T) {
		dir := testenv.TempDir(t)
		s := openLogStore(t, dir, smallSegments())
		require.NoError(t, s.StoreLogs(entries(1, 10, 1)))
		require.NoError(t, s.Close())
		require.NoError(t, consensus.WriteFirstIndex(dir, 12))

		_, err := consensus.NewLogStore(dir, smallSegments())

		require.ErrorIs(t, err, log.ErrCorrupt)
	})
	t.Run("an empty log", func(t *testing.T) {
		dir := testenv.TempDir(t)
		require.NoError(t, openLogStore(t, dir, smallSegments()).Close())
		require.NoError(t, consensus.WriteFirstIndex(dir, 7))

		s := openLogStore(t, dir, smallSegments())

		requireIndexes(t, s, 0, 0)
		require.NoError(t, s.StoreLogs(entries(1, 3, 1)))
		require.NoError(t, s.Close())
		requireSameStore(t, storeWith(t, entries(1, 3, 1)), openLogStore(t, dir, smallSegments()), 8, "reopened")
	})
}

// A crashPoint is the directory of a store as a crash at one moment leaves it.
type crashPoint struct {
	when string
	dir  string
}

// recordCrashPoints makes s add to points a crash copy of dir after every change to
// its files.
func recordCrashPoints(t *testing.T, s *consensus.LogStore, dir string, points *[]crashPoint) {
	t.Helper()
	s.AfterEachStep(func(done string) {
		*points = append(*points, crashPoint{"after " + done, crashCopy(t, dir)})
	})
}

// storeWith returns a reference store holding es.
func storeWith(t *testing.T, es []*raft.Log) *raft.InmemStore {
	t.Helper()
	s := raft.NewInmemStore()
	if len(es) > 0 {
		require.NoError(t, s.StoreLogs(es))
	}
	return s
}

// Once DeleteRange of every entry returns, raft takes the store for empty. A crash at
// any point of the deletion leaves either what raft had, or a prefix of it (the newest
// entries go first), or the empty store; never the entries compacted before.
func TestLogStoreDeleteEverythingCrashPoints(t *testing.T) {
	for _, tt := range compactedStores {
		t.Run(tt.name, func(t *testing.T) {
			dir := testenv.TempDir(t)
			s := tt.open(t, dir)
			requireIndexes(t, s, tt.first, 10)
			points := []crashPoint{{"before DeleteRange", crashCopy(t, dir)}}
			recordCrashPoints(t, s, dir, &points)

			require.NoError(t, s.DeleteRange(tt.first, 10))

			points = append(points, crashPoint{"after DeleteRange returned", crashCopy(t, dir)})
			for i, p := range points {
				t.Run(p.when, func(t *testing.T) {
					s := openLogStore(t, p.dir, smallSegments())
					last, err := s.LastIndex()
					require.NoError(t, err)
					if i == len(points)-1 {
						require.Zero(t, last, "LastIndex once DeleteRange has returned")
					}
					want := raft.NewInmemStore()
					if last != 0 {
						want = storeWith(t, entries(tt.first, last, 1))
					}
					requireSameStore(t, want, s, 12, p.when)
				})
			}
		})
	}
}

// When StoreLogs meets an empty store at another index than the next one, the store
// starts again at that index (after raft installs a snapshot). A crash at any point of
// that restart leaves the empty store or the new one, never the compacted entries; and
// raft can go on from there: store the entries again and find them after a reopen.
func TestLogStoreRestartCrashPoints(t *testing.T) {
	for _, tt := range compactedStores {
		for _, at := range []uint64{1, 2, 5, 8, 101} {
			t.Run(fmt.Sprintf("%s, restart at %d", tt.name, at), func(t *testing.T) {
				dir := testenv.TempDir(t)
				s := tt.open(t, dir)
				require.NoError(t, s.DeleteRange(tt.first, 10))
				requireIndexes(t, s, 0, 0)
				points := []crashPoint{{"before StoreLogs", crashCopy(t, dir)}}
				recordCrashPoints(t, s, dir, &points)
				batch := entries(at, at+2, 7)

				require.NoError(t, s.StoreLogs(batch))

				points = append(points, crashPoint{"after StoreLogs returned", crashCopy(t, dir)})
				want := storeWith(t, batch)
				upTo := max(at+2, 10) + 2
				for i, p := range points {
					t.Run(p.when, func(t *testing.T) {
						s := openLogStore(t, p.dir, smallSegments())
						if i < len(points)-1 {
							// Every step comes before the entries are appended: the store
							// is still empty, at whatever index.
							requireSameStore(t, raft.NewInmemStore(), s, upTo, p.when+": the empty store")
							require.NoError(t, s.StoreLogs(batch), "raft stores the entries again")
						}
						requireSameStore(t, want, s, upTo, p.when+": after StoreLogs")
						require.NoError(t, s.Close())
						requireSameStore(t, want, openLogStore(t, p.dir, smallSegments()), upTo, p.when+": reopened")
					})
				}
			})
		}
	}
}

// TestLogStoreMatchesInmemStore runs random sequences of the calls raft makes (append a
// batch at the next index, or anywhere on an empty store; delete a prefix, a suffix, or
// everything) against the store and against raft's in-memory store, which is the
// reference, and checks after every step that both hold the same entries. Now and then
// it reopens the store, cleanly or from the files as a crash would leave them.
func TestLogStoreMatchesInmemStore(t *testing.T) {
	const steps = 120
	for seed := range uint64(8) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 0x601065))
			dir := testenv.TempDir(t)
			s := openLogStore(t, dir, smallSegments())
			oracle := raft.NewInmemStore()
			var term, highest uint64 // highest index ever stored

			for step := range steps {
				first, err := oracle.FirstIndex()
				require.NoError(t, err)
				last, err := oracle.LastIndex()
				require.NoError(t, err)

				var op string
				switch p := rng.IntN(20); {
				case p < 10 || last == 0: // append a batch
					start := last + 1
					if last == 0 && rng.IntN(2) == 0 {
						start = 1 + rng.Uint64N(highest+10) // anywhere, as after a snapshot
					}
					term += rng.Uint64N(2)
					batch := randomEntries(rng, start, 1+rng.Uint64N(6), term)
					op = fmt.Sprintf("StoreLogs(%d..%d)", start, batch[len(batch)-1].Index)
					require.NoError(t, oracle.StoreLogs(batch), op)
					require.NoError(t, s.StoreLogs(batch), op)
					highest = max(highest, batch[len(batch)-1].Index)
				case p < 13: // compaction
					to := first + rng.Uint64N(last-first+1)
					op = fmt.Sprintf("DeleteRange(%d, %d) prefix", first, to)
					require.NoError(t, oracle.DeleteRange(first, to), op)
					require.NoError(t, s.DeleteRange(first, to), op)
				case p < 16: // conflicting suffix
					from := first + rng.Uint64N(last-first+1)
					op = fmt.Sprintf("DeleteRange(%d, %d) suffix", from, last)
					require.NoError(t, oracle.DeleteRange(from, last), op)
					require.NoError(t, s.DeleteRange(from, last), op)
				case p < 17:
					op = fmt.Sprintf("DeleteRange(%d, %d) all", first, last)
					require.NoError(t, oracle.DeleteRange(first, last), op)
					require.NoError(t, s.DeleteRange(first, last), op)
				case p < 19:
					op = "close and reopen"
					require.NoError(t, s.Close())
					s = openLogStore(t, dir, smallSegments())
				default:
					op = "reopen from a crash copy"
					dir = crashCopy(t, dir)
					require.NoError(t, s.Close())
					s = openLogStore(t, dir, smallSegments())
				}
				requireSameStore(t, oracle, s, highest+2, fmt.Sprintf("step %d: %s", step, op))
			}
		})
	}
}

// randomEntries returns n entries from index start in term term with random content.
func randomEntries(rng *rand.Rand, start, n, term uint64) []*raft.Log {
	es := make([]*raft.Log, n)
	for i := range es {
		e := &raft.Log{Index: start + uint64(i), Term: term, Type: raft.LogType(rng.IntN(6))}
		if l := rng.IntN(40); l > 0 {
			e.Data = make([]byte, l)
			for j := range e.Data {
				e.Data[j] = byte(rng.Uint32())
			}
		}
		if rng.IntN(4) == 0 {
			e.Extensions = []byte{byte(rng.Uint32())}
		}
		if rng.IntN(2) == 0 {
			e.AppendedAt = time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9))
		}
		es[i] = e
	}
	return es
}

// requireSameStore checks that s answers FirstIndex, LastIndex and GetLog for every
// index up to upTo as the reference store does.
func requireSameStore(t *testing.T, want *raft.InmemStore, s *consensus.LogStore, upTo uint64, step string) {
	t.Helper()
	wantFirst, _ := want.FirstIndex()
	wantLast, _ := want.LastIndex()
	gotFirst, err := s.FirstIndex()
	require.NoError(t, err, step)
	gotLast, err := s.LastIndex()
	require.NoError(t, err, step)
	require.Equal(t, [2]uint64{wantFirst, wantLast}, [2]uint64{gotFirst, gotLast}, "%s: [FirstIndex, LastIndex]", step)
	for i := range upTo + 1 {
		var w, g raft.Log
		wantErr := want.GetLog(i, &w)
		gotErr := s.GetLog(i, &g)
		if wantErr != nil {
			require.True(t, gotErr == raft.ErrLogNotFound, "%s: GetLog(%d) = %v, want raft.ErrLogNotFound", step, i, gotErr)
			continue
		}
		require.NoError(t, gotErr, "%s: GetLog(%d)", step, i)
		requireSameEntry(t, &w, &g, "%s: GetLog(%d)", step, i)
	}
}

// BenchmarkLogStoreStoreLogs stores one small entry per StoreLogs, as a follower does
// for each AppendEntries of one command; every call syncs to disk before it returns, so
// this measures the fsyncs a Raft write waits for.
func BenchmarkLogStoreStoreLogs(b *testing.B) {
	c := log.Config{Logger: testenv.Logger(b)}
	s, err := consensus.NewLogStore(testenv.TempDir(b), c)
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, s.Close()) })
	e := &raft.Log{Type: raft.LogCommand, Term: 1, Data: bytes.Repeat([]byte{'x'}, 64)}
	batch := []*raft.Log{e}
	b.ReportAllocs()
	for b.Loop() {
		e.Index++
		if err := s.StoreLogs(batch); err != nil {
			b.Fatal(err)
		}
	}
}
