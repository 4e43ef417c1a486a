package history_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
	"golog/test/history"
)

// The histories below are written by hand on a clock of whole milliseconds, so that
// which operation came before which is plain to read.

func ms(n int) int64 { return int64(time.Duration(n) * time.Millisecond) }

func appendOp(client int, value string, call, ret int, outcome history.Outcome, offset uint64) history.Op {
	return history.Op{Client: client, Kind: history.KindAppend, Via: "grpc", Server: "n1",
		Value: value, Offset: offset, Outcome: outcome, Call: ms(call), Return: ms(ret)}
}

func readOp(client int, offset uint64, c history.Consistency, call, ret int, outcome history.Outcome, value string) history.Op {
	return history.Op{Client: client, Kind: history.KindRead, Via: "http", Server: "n2",
		Offset: offset, Consistency: c, Outcome: outcome, Value: value, Call: ms(call), Return: ms(ret)}
}

func newHistory(ops ...history.Op) history.History {
	for i := range ops {
		ops[i].ID = i
	}
	return history.History{Ops: ops}
}

func logOf(server string, values ...string) history.Log {
	l := history.Log{Server: server}
	for i, v := range values {
		l.Records = append(l.Records, history.Record{Offset: uint64(i), Value: v})
	}
	return l
}

func threeLogs(values ...string) []history.Log {
	return []history.Log{logOf("n1", values...), logOf("n2", values...), logOf("n3", values...)}
}

// goodHistory is a history a correct cluster could produce: concurrent appends, an
// append that timed out and landed, one that timed out and did not, one refused, reads
// of both consistency levels, a local read that lagged, a read that failed.
func goodHistory() (history.History, []history.Log) {
	h := newHistory(
		appendOp(0, "a", 0, 10, history.OK, 0),
		appendOp(1, "b", 2, 12, history.OK, 1),
		appendOp(2, "c", 3, 40, history.Unknown, 0), // timed out; landed at offset 2
		readOp(3, 0, history.Linearizable, 11, 14, history.OK, "a"),
		readOp(3, 1, history.Local, 15, 16, history.NotFound, ""), // a lagging follower
		readOp(3, 1, history.Linearizable, 17, 19, history.OK, "b"),
		appendOp(0, "d", 20, 25, history.Failed, 0),  // refused: no leader
		appendOp(1, "e", 21, 50, history.Unknown, 0), // timed out; never applied
		appendOp(0, "f", 26, 30, history.OK, 3),
		readOp(3, 4, history.Linearizable, 31, 32, history.NotFound, ""),
		readOp(3, 2, history.Local, 33, 34, history.OK, "c"),
		readOp(4, 3, history.Linearizable, 35, 36, history.Error, ""),
	)
	return h, threeLogs("a", "b", "c", "f")
}

func TestCheckPassesAGoodHistory(t *testing.T) {
	h, logs := goodHistory()
	res := history.Check(h, logs, 10*time.Second)
	require.True(t, res.OK(), "%s", res)
	require.Len(t, res.Reports, 5)

	s := res.Stats
	require.Equal(t, 6, s.Appends)
	require.Equal(t, 3, s.Acknowledged)
	require.Equal(t, 1, s.Refused)
	require.Equal(t, 2, s.Unknown)
	require.Equal(t, 1, s.Landed)
	require.Equal(t, 6, s.Reads)
	require.Equal(t, 3, s.ReadsFound)
	require.Equal(t, 2, s.ReadsNotFound)
	require.Zero(t, s.Lost)
	require.Zero(t, s.Duplicated)
	// Acknowledgements at 10, 12 and 30 ms; appends tried from 0 to 26 ms: the longest
	// stretch without one is 12 to 30.
	require.Equal(t, 18*time.Millisecond, s.LongestUnavailable)
}

// failing runs the checks and requires exactly the checks named by number to fail,
// each mentioning want.
func failing(t *testing.T, h history.History, logs []history.Log, want string, checks ...int) {
	t.Helper()
	res := history.Check(h, logs, 10*time.Second)
	require.False(t, res.OK(), "%s", res)
	var failed []int
	for i, rep := range res.Reports {
		if !rep.OK() {
			failed = append(failed, i+1)
			require.Contains(t, rep.String(), "FAILED")
		}
	}
	require.Equal(t, checks, failed, "%s", res)
	require.Contains(t, res.String(), want)
}

func TestCheckFailsALostAcknowledgement(t *testing.T) {
	h, _ := goodHistory()
	// "b" was acknowledged at offset 1, and is gone from every server.
	failing(t, h, threeLogs("a", "c", "f"), `lost on n1: offset 1 holds "c"`, 1, 3)
}

func TestCheckFailsARecordLostOnOneServer(t *testing.T) {
	h, _ := goodHistory()
	logs := threeLogs("a", "b", "c", "f")
	logs[2] = logOf("n3", "a", "b", "c") // n3 lost its newest record
	failing(t, h, logs, "lost on n3: no record at offset 3", 1, 2)
}

func TestCheckFailsADuplicate(t *testing.T) {
	h, _ := goodHistory()
	failing(t, h, threeLogs("a", "b", "c", "f", "b"), `"b" via grpc/n1: ok at offset 1 [2ms, 12ms]: duplicated on n1: present 2 times`, 1)
}

func TestCheckFailsDivergentServers(t *testing.T) {
	h, _ := goodHistory()
	logs := threeLogs("a", "b", "c", "f")
	logs[1].Records[2].Value = "e" // n2 applied the append that timed out instead of "c"
	failing(t, h, logs, `n1 and n2 differ at their record 2: offset 2 "c" against offset 2 "e"`, 2)
}

func TestCheckFailsAGap(t *testing.T) {
	h, _ := goodHistory()
	logs := threeLogs("a", "b", "c", "f")
	for i := range logs {
		logs[i].Records[3].Offset = 4
	}
	failing(t, h, logs, "gap: offset 4 follows offset 2", 1, 2)
}

func TestCheckFailsARecordNobodyWrote(t *testing.T) {
	h, _ := goodHistory()
	failing(t, h, threeLogs("a", "b", "c", "f", "zz"), `offset 4 holds "zz", which no client wrote`, 2)
}

func TestCheckFailsAnAppendAppliedTwiceAfterATimeout(t *testing.T) {
	h, _ := goodHistory()
	failing(t, h, threeLogs("a", "b", "c", "f", "c"), `present 2 times on n1`, 3, 4)
}

func TestCheckFailsARefusedAppendThatWasApplied(t *testing.T) {
	h, _ := goodHistory()
	failing(t, h, threeLogs("a", "b", "c", "f", "d"), `refused as not applied, yet present 1 times on n1`, 4)
}

func TestCheckFailsAStaleLinearizableRead(t *testing.T) {
	h, logs := goodHistory()
	// A linearizable read of offset 1 after "b" was acknowledged there answers not found.
	h.Ops = append(h.Ops, readOp(4, 1, history.Linearizable, 60, 61, history.NotFound, ""))
	failing(t, h, logs, "read offset 1 (linearizable) via http/n2: not-found [60ms, 61ms]: but #1", 3, 5)
}

func TestCheckAcceptsALaggingLocalRead(t *testing.T) {
	h, logs := goodHistory()
	h.Ops = append(h.Ops, readOp(4, 1, history.Local, 60, 61, history.NotFound, ""))
	res := history.Check(h, logs, 10*time.Second)
	require.True(t, res.OK(), "%s", res)
}

func TestCheckFailsALocalReadBeforeCatchUp(t *testing.T) {
	h, logs := goodHistory()
	// n2 restarted at 55 ms, after "b" was acknowledged at offset 1 (12 ms): once it
	// serves reads it must hold "b". A local read of n1, which did not restart, may lag.
	h.Starts = []history.Start{{Server: "n2", Time: ms(5)}, {Server: "n2", Time: ms(55)}}
	lagging := readOp(4, 1, history.Local, 60, 61, history.NotFound, "")
	lagging.Server = "n1"
	h.Ops = append(h.Ops, lagging)
	res := history.Check(h, logs, 10*time.Second)
	require.True(t, res.OK(), "%s", res)

	h.Ops = append(h.Ops, readOp(4, 1, history.Local, 62, 63, history.NotFound, ""))
	failing(t, h, logs, "read offset 1 (local) via http/n2: not-found [62ms, 63ms]: but #1", 5)
	failing(t, h, logs, "acknowledged before n2 started at 55ms", 5)
}

func TestCheckAcceptsALocalReadOfAServerStartedBeforeTheAck(t *testing.T) {
	h, logs := goodHistory()
	// n2 started at 11 ms, before "b" was acknowledged (12 ms): it may lag behind it.
	h.Starts = []history.Start{{Server: "n2", Time: ms(11)}}
	h.Ops = append(h.Ops, readOp(4, 1, history.Local, 60, 61, history.NotFound, ""))
	res := history.Check(h, logs, 10*time.Second)
	require.True(t, res.OK(), "%s", res)
}

func TestCheckFailsReadsThatDisagreeOnOrder(t *testing.T) {
	h, logs := goodHistory()
	// A reader that saw "b" at offset 1 before "b" had even been invoked saw the future;
	// one that sees "f" at offset 1 saw another order.
	t.Run("value before its append", func(t *testing.T) {
		h := h
		h.Ops = append([]history.Op{readOp(5, 1, history.Local, 0, 1, history.OK, "b")}, h.Ops...)
		failing(t, h, logs, "no order of the", 3)
	})
	t.Run("another order", func(t *testing.T) {
		h := h
		h.Ops = append(h.Ops, readOp(5, 1, history.Linearizable, 60, 61, history.OK, "f"))
		failing(t, h, logs, "no order of the", 3)
	})
	t.Run("found then not found", func(t *testing.T) {
		// Offset 3 holds "f"; a later linearizable read of offset 2 says not found,
		// though no acknowledgement of offset 2 or above preceded it ("c" timed out,
		// "f" was acknowledged at 30 ms, after this read began).
		h := newHistory(
			appendOp(0, "a", 0, 1, history.OK, 0),
			appendOp(0, "b", 2, 3, history.OK, 1),
			appendOp(1, "c", 0, 90, history.Unknown, 0),
			appendOp(2, "f", 5, 30, history.OK, 3),
			readOp(3, 3, history.Local, 6, 7, history.OK, "f"),
			readOp(3, 2, history.Linearizable, 8, 9, history.NotFound, ""),
		)
		failing(t, h, threeLogs("a", "b", "c", "f"), "no order of the", 3)
	})
}

func TestCheckWithoutLogs(t *testing.T) {
	h, _ := goodHistory()
	res := history.Check(h, nil, time.Second)
	require.False(t, res.OK())
	require.Contains(t, res.String(), "no server's log was read")
}

func TestReportListsABoundedNumberOfProblems(t *testing.T) {
	var ops []history.Op
	for i := range 50 {
		ops = append(ops, appendOp(0, string(rune('A'+i)), 2*i, 2*i+1, history.OK, uint64(i)))
	}
	rep := history.CheckAckedPresent(newHistory(ops...), threeLogs()[:1])
	require.False(t, rep.OK())
	require.Len(t, rep.Problems, 20)
	require.Equal(t, 30, rep.More)
	require.Contains(t, rep.String(), "... and 30 more")
}

func TestVisualizeWritesHTML(t *testing.T) {
	h, logs := goodHistory()
	h.Ops = append(h.Ops, readOp(4, 1, history.Linearizable, 60, 61, history.NotFound, ""))
	h.Notes = []history.Note{{Time: ms(5), Text: "kill -9 n1"}}
	res := history.Check(h, logs, 10*time.Second)
	require.False(t, res.OK())

	path := filepath.Join(testenv.TempDir(t), "history.html")
	require.NoError(t, res.Linearization.Visualize(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(strings.TrimSpace(string(b)), "<!DOCTYPE html>") || strings.Contains(string(b), "<html"), "not HTML")
	require.Contains(t, string(b), "kill -9 n1")
}
