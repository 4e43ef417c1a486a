package history

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Result is the outcome of the five checks on one run.
type Result struct {
	Reports       []Report // checks 1 to 5, in order
	Linearization Linearization
	Stats         Stats
}

// OK reports whether every check passed.
func (r Result) OK() bool {
	for _, rep := range r.Reports {
		if !rep.OK() {
			return false
		}
	}
	return true
}

func (r Result) String() string {
	lines := make([]string, 0, len(r.Reports))
	for _, rep := range r.Reports {
		lines = append(lines, rep.String())
	}
	return strings.Join(lines, "\n")
}

// Check runs the five checks on h and the servers' final logs. logs must hold at least
// one log; the first is the reference for the linearizability check (check 2 says
// whether the others agree with it). timeout bounds the linearizability search.
func Check(h History, logs []Log, timeout time.Duration) Result {
	if len(logs) == 0 {
		rep := Report{Check: "final logs"}
		rep.problem("no server's log was read")
		return Result{Reports: []Report{rep}}
	}
	lin := CheckLinearizable(h, logs[0], timeout)
	return Result{
		Reports: []Report{
			CheckAckedPresent(h, logs),
			CheckIdentical(h, logs),
			lin.Report,
			CheckMaybeOnce(h, logs),
			CheckNoStaleNotFound(h),
		},
		Linearization: lin,
		Stats:         Statistics(h, logs),
	}
}

// Stats are the figures of a run, for its summary table.
type Stats struct {
	Appends      int // appends invoked
	Acknowledged int // appends acknowledged
	Refused      int // appends the cluster said it did not apply
	Unknown      int // appends that may have been applied
	Landed       int // of the Unknown ones, those present in the final log

	Reads         int // reads invoked
	ReadsFound    int // reads that answered a value
	ReadsNotFound int // reads that answered "not found"

	Lost       int // acknowledged appends missing from some server, or moved
	Duplicated int // appends present more than once on some server

	// LongestUnavailable is the longest time during which appends were being tried and
	// none was acknowledged: the longest gap between two acknowledgements, or before
	// the first or after the last while appends were still tried.
	LongestUnavailable time.Duration
}

// Statistics counts what happened in h and where the final logs stand.
func Statistics(h History, logs []Log) Stats {
	var s Stats
	var ackTimes []int64
	var firstCall, lastCall int64 = -1, 0
	for _, op := range h.Ops {
		switch op.Kind {
		case KindAppend:
			s.Appends++
			if firstCall < 0 {
				firstCall = op.Call
			}
			lastCall = max(lastCall, op.Call)
			switch op.Outcome {
			case OK:
				s.Acknowledged++
				ackTimes = append(ackTimes, op.Return)
				if lost(op, logs) {
					s.Lost++
				}
			case Failed:
				s.Refused++
			case Unknown:
				s.Unknown++
				if len(logs) > 0 && logs[0].count(op.Value) > 0 {
					s.Landed++
				}
			}
			if duplicated(op, logs) {
				s.Duplicated++
			}
		case KindRead:
			s.Reads++
			switch op.Outcome {
			case OK:
				s.ReadsFound++
			case NotFound:
				s.ReadsNotFound++
			}
		}
	}
	s.LongestUnavailable = longestGap(ackTimes, firstCall, lastCall)
	return s
}

// lost reports whether the acknowledged append op is missing from its
// offset on some server.
func lost(op Op, logs []Log) bool {
	for _, l := range logs {
		if r, ok := l.at(op.Offset); !ok || r.Value != op.Value {
			return true
		}
	}
	return false
}

func duplicated(op Op, logs []Log) bool {
	for _, l := range logs {
		if l.count(op.Value) > 1 {
			return true
		}
	}
	return false
}

// longestGap returns the longest stretch within [first, last] with no time in acks.
func longestGap(acks []int64, first, last int64) time.Duration {
	if first < 0 {
		return 0
	}
	slices.Sort(acks)
	prev, longest := first, int64(0)
	for _, t := range acks {
		longest = max(longest, t-prev)
		prev = max(prev, t)
	}
	longest = max(longest, last-prev)
	return time.Duration(longest)
}

func (s Stats) String() string {
	return fmt.Sprintf("appends %d (acknowledged %d, refused %d, unknown %d of which %d landed), "+
		"reads %d (found %d, not found %d), lost %d, duplicated %d, longest unavailability %v",
		s.Appends, s.Acknowledged, s.Refused, s.Unknown, s.Landed,
		s.Reads, s.ReadsFound, s.ReadsNotFound, s.Lost, s.Duplicated,
		s.LongestUnavailable.Round(time.Millisecond))
}
