package history

import (
	"fmt"
	"strings"
	"time"
)

// Record is one record of a server's log.
type Record struct {
	Offset uint64 `json:"offset"`
	Value  string `json:"value"`
}

// Log is the whole log of one server, read after the faults have healed, lowest offset
// first.
type Log struct {
	Server  string   `json:"server"`
	Records []Record `json:"records"`
}

// count returns how many times value occurs in l.
func (l Log) count(value string) int {
	n := 0
	for _, r := range l.Records {
		if r.Value == value {
			n++
		}
	}
	return n
}

// at returns the record at offset off, if l holds one.
func (l Log) at(off uint64) (Record, bool) {
	if len(l.Records) == 0 {
		return Record{}, false
	}
	first := l.Records[0].Offset
	if off < first || off-first >= uint64(len(l.Records)) {
		return Record{}, false
	}
	r := l.Records[off-first]
	return r, r.Offset == off
}

// maxProblems bounds how many problems a Report lists, so that one broken run does not
// print a million lines; the count of the rest is kept.
const maxProblems = 20

// Report is the result of one check: no problems means it passed.
type Report struct {
	Check    string   // the check's name
	Problems []string // what is wrong, at most maxProblems of them
	More     int      // how many more problems there were
}

// OK reports whether the check passed.
func (r Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.More++
		return
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r Report) String() string {
	if r.OK() {
		return r.Check + ": ok"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: FAILED\n", r.Check)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  - %s\n", p)
	}
	if r.More > 0 {
		fmt.Fprintf(&b, "  ... and %d more\n", r.More)
	}
	return strings.TrimRight(b.String(), "\n")
}

// CheckAckedPresent is check 1: every acknowledged append is present exactly once, at its
// acknowledged offset, on every server. A lost acknowledgement shows here as a record
// missing or another value at the acknowledged offset; a duplicate as a count above one.
func CheckAckedPresent(h History, logs []Log) Report {
	rep := Report{Check: "1. every acknowledged record present once, at its offset, on every server"}
	for _, op := range h.Ops {
		if op.Kind != KindAppend || op.Outcome != OK {
			continue
		}
		for _, l := range logs {
			r, ok := l.at(op.Offset)
			switch {
			case !ok:
				rep.problem("%s: lost on %s: no record at offset %d", op, l.Server, op.Offset)
			case r.Value != op.Value:
				rep.problem("%s: lost on %s: offset %d holds %q", op, l.Server, op.Offset, r.Value)
			}
			if n := l.count(op.Value); n > 1 {
				rep.problem("%s: duplicated on %s: present %d times", op, l.Server, n)
			}
		}
	}
	return rep
}

// CheckIdentical is check 2: every server holds the same records at the same offsets, with
// no gap, and every record holds a value that some append of the history wrote.
func CheckIdentical(h History, logs []Log) Report {
	rep := Report{Check: "2. identical records at identical offsets on every server, no gaps, nothing unwritten"}
	written := make(map[string]bool)
	for _, op := range h.Ops {
		if op.Kind == KindAppend {
			written[op.Value] = true
		}
	}
	for _, l := range logs {
		for i, r := range l.Records {
			if i > 0 && r.Offset != l.Records[i-1].Offset+1 {
				rep.problem("%s: gap: offset %d follows offset %d", l.Server, r.Offset, l.Records[i-1].Offset)
			}
			if !written[r.Value] {
				rep.problem("%s: offset %d holds %q, which no client wrote", l.Server, r.Offset, r.Value)
			}
		}
	}
	if len(logs) < 2 {
		return rep
	}
	ref := logs[0]
	for _, l := range logs[1:] {
		compareLogs(&rep, ref, l)
	}
	return rep
}

// compareLogs reports where l differs from ref.
func compareLogs(rep *Report, ref, l Log) {
	if len(ref.Records) != len(l.Records) {
		rep.problem("%s holds %d records, %s holds %d", ref.Server, len(ref.Records), l.Server, len(l.Records))
	}
	for i := range min(len(ref.Records), len(l.Records)) {
		a, b := ref.Records[i], l.Records[i]
		if a != b {
			rep.problem("%s and %s differ at their record %d: offset %d %q against offset %d %q",
				ref.Server, l.Server, i, a.Offset, a.Value, b.Offset, b.Value)
			return // the rest would repeat the same divergence
		}
	}
}

// CheckMaybeOnce is check 4: an append that may have been applied (Unknown) is present
// once or absent on every server, never twice; an append the cluster refused (Failed,
// "applied: no") is absent.
func CheckMaybeOnce(h History, logs []Log) Report {
	rep := Report{Check: "4. appends that timed out present once or absent; refused appends absent"}
	for _, op := range h.Ops {
		if op.Kind != KindAppend {
			continue
		}
		for _, l := range logs {
			n := l.count(op.Value)
			switch {
			case op.Outcome == Unknown && n > 1:
				rep.problem("%s: present %d times on %s", op, n, l.Server)
			case op.Outcome == Failed && n > 0:
				rep.problem("%s: refused as not applied, yet present %d times on %s", op, n, l.Server)
			}
		}
	}
	return rep
}

// CheckNoStaleNotFound is check 5: no read answered "not found" for an offset that had
// been acknowledged before the read began, if the read was held to it: a linearizable
// read always; a local read when it was sent to a server that started (Starts) after
// the acknowledgement, since a server serves no reads after its start until it has
// applied everything committed before it. Offsets are dense, so an acknowledgement at
// any offset at or above the one read proves the record is there. Other local reads
// may lag and are not held to this.
func CheckNoStaleNotFound(h History) Report {
	rep := Report{Check: "5. no read answered not found for an offset acknowledged before it began " +
		"(linearizable reads; local reads on a server started after the acknowledgement)"}
	// acks holds the acknowledged appends; for each read, the highest offset
	// acknowledged before it began (or before its server started) is what counts.
	var acks []Op
	for _, op := range h.Ops {
		if op.Kind == KindAppend && op.Outcome == OK {
			acks = append(acks, op)
		}
	}
	for _, op := range h.Ops {
		if op.Kind != KindRead || op.Outcome != NotFound {
			continue
		}
		before, why := op.Call, "before it began"
		if op.Consistency != Linearizable {
			start, ok := lastStart(h.Starts, op.Server, op.Call)
			if !ok {
				continue
			}
			before, why = start, fmt.Sprintf("before %s started at %v", op.Server, time.Duration(start))
		}
		for _, a := range acks {
			if a.Return < before && a.Offset >= op.Offset {
				rep.problem("%s: but %s had been acknowledged %s", op, a, why)
				break
			}
		}
	}
	return rep
}

// lastStart returns the time of server's last start before t, if it started then.
func lastStart(starts []Start, server string, t int64) (int64, bool) {
	var last int64
	found := false
	for _, s := range starts {
		if s.Server == server && server != "" && s.Time < t && s.Time >= last {
			last, found = s.Time, true
		}
	}
	return last, found
}
