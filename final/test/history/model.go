package history

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
)

// The model is a sequential append-only log. Its state is the log's length n: the
// records at offsets 0..n-1 are in it. The values themselves need not be in the state,
// because every append of the history carries the offset it was acknowledged at, so
// the value at offset i is fixed by the history (valueAt). Should two appends claim the
// same offset, only one of them can ever step the length from i to i+1, so no order
// explains the history and the checker says so.
//
//	append(v) -> offset o    legal iff o == n;         then n = n+1
//	read(o) -> v             legal iff o < n and valueAt[o] == v
//	read(o) -> not found     linearizable: legal iff o >= n
//	                         local: always legal (the server may lag)
//
// A local read that answered a value is held to the same rule as a linearizable one:
// a server applies only committed records, and the append that wrote one may be placed
// at its commit, which came before the read's answer.

// appendInput and appendOutput are an append's input and output in the model.
type appendInput struct{ value string }
type appendOutput struct{ offset uint64 }

// readInput and readOutput are a read's.
type readInput struct {
	offset      uint64
	consistency Consistency
}
type readOutput struct {
	found bool
	value string
}

// model returns the porcupine model of the log whose offsets hold valueAt.
func model(valueAt map[uint64]string) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return uint64(0) },
		Step: func(state, input, output any) (bool, any) {
			n := state.(uint64)
			switch in := input.(type) {
			case appendInput:
				out := output.(appendOutput)
				if out.offset != n {
					return false, n
				}
				return true, n + 1
			case readInput:
				out := output.(readOutput)
				if !out.found {
					return in.consistency == Local || in.offset >= n, n
				}
				v, ok := valueAt[in.offset]
				return in.offset < n && ok && v == out.value, n
			}
			panic(fmt.Sprintf("history: unknown model input %T", input))
		},
		Equal: func(a, b any) bool { return a.(uint64) == b.(uint64) },
		Hash:  func(s any) uint64 { return s.(uint64) },
		DescribeOperation: func(input, output any) string {
			switch in := input.(type) {
			case appendInput:
				return fmt.Sprintf("append(%q) -> %d", in.value, output.(appendOutput).offset)
			case readInput:
				out := output.(readOutput)
				if !out.found {
					return fmt.Sprintf("read(%d, %s) -> not found", in.offset, in.consistency)
				}
				return fmt.Sprintf("read(%d, %s) -> %q", in.offset, in.consistency, out.value)
			}
			return fmt.Sprint(input)
		},
		DescribeState: func(s any) string {
			n := s.(uint64)
			if n == 0 {
				return "empty log"
			}
			return fmt.Sprintf("%d records; last %q", n, valueAt[n-1])
		},
		DescribeOperationMetadata: func(info any) string {
			if info == nil {
				return ""
			}
			return info.(string)
		},
	}
}

// operations turns h into porcupine operations, and returns the offsets' values with
// them. ref is a server's final log: it tells where an append that ended Unknown
// landed. Such an append is given its offset from ref and a completion after every
// other operation (it may have taken effect at any time after it began); if ref does
// not hold it, it had no effect and is left out. Refused appends and failed reads are
// left out too: they had no effect on the log and saw nothing of it.
func operations(h History, ref Log) ([]porcupine.Operation, map[uint64]string) {
	landed := make(map[string]uint64, len(ref.Records))
	for _, r := range ref.Records {
		landed[r.Value] = r.Offset
	}
	var end int64
	for _, op := range h.Ops {
		end = max(end, op.Return)
	}
	end++

	valueAt := make(map[uint64]string)
	var ops []porcupine.Operation
	add := func(op Op, in, out any, ret int64) {
		ops = append(ops, porcupine.Operation{
			ClientId: op.Client, Input: in, Output: out,
			Call: op.Call, Return: ret, Metadata: op.String(),
		})
	}
	for _, op := range h.Ops {
		switch {
		case op.Kind == KindAppend && op.Outcome == OK:
			valueAt[op.Offset] = op.Value
			add(op, appendInput{op.Value}, appendOutput{op.Offset}, op.Return)
		case op.Kind == KindAppend && op.Outcome == Unknown:
			if off, ok := landed[op.Value]; ok {
				valueAt[off] = op.Value
				add(op, appendInput{op.Value}, appendOutput{off}, end)
			}
		case op.Kind == KindRead && op.Outcome == OK:
			add(op, readInput{op.Offset, op.Consistency}, readOutput{true, op.Value}, op.Return)
		case op.Kind == KindRead && op.Outcome == NotFound:
			add(op, readInput{op.Offset, op.Consistency}, readOutput{}, op.Return)
		}
	}
	return ops, valueAt
}

// Linearization is the outcome of check 3, with what Visualize needs to draw it.
type Linearization struct {
	Report Report
	model  porcupine.Model
	info   porcupine.LinearizationInfo
	notes  []Note
}

// CheckLinearizable is check 3: it asks porcupine whether some order of the operations,
// each placed between its invocation and its completion, is a legal run of the model
// above. ref is a server's final log (see operations). The search is NP-hard in the
// worst case: after timeout it stops and the check fails, saying it could not decide.
func CheckLinearizable(h History, ref Log, timeout time.Duration) Linearization {
	ops, valueAt := operations(h, ref)
	m := model(valueAt)
	result, info := porcupine.CheckOperationsVerbose(m, ops, timeout)
	rep := Report{Check: "3. the history is linearizable (porcupine, append-only log model)"}
	switch result {
	case porcupine.Ok:
	case porcupine.Illegal:
		rep.problem("no order of the %d operations explains every answer; see the visualization", len(ops))
		for _, p := range longestPartial(info) {
			rep.problem("  %s", p)
		}
	default:
		rep.problem("porcupine could not decide within %v (%d operations)", timeout, len(ops))
	}
	return Linearization{Report: rep, model: m, info: info, notes: h.Notes}
}

// longestPartial describes the end of the longest order porcupine could build before
// it got stuck: the operations just before the one that no state could explain.
func longestPartial(info porcupine.LinearizationInfo) []string {
	var best []porcupine.Operation
	for _, partition := range info.PartialLinearizationsOperations() {
		for _, lin := range partition {
			if len(lin) > len(best) {
				best = lin
			}
		}
	}
	const tail = 5
	var lines []string
	if len(best) > tail {
		lines = append(lines, fmt.Sprintf("longest legal order: %d operations, ending:", len(best)))
		best = best[len(best)-tail:]
	}
	for _, op := range best {
		lines = append(lines, fmt.Sprint(op.Metadata))
	}
	return lines
}

// Visualize writes porcupine's HTML view of the check to path: every client's
// operations on a time line, the longest legal orders found, and the test's notes
// (faults injected and healed) as annotations.
func (l Linearization) Visualize(path string) error {
	annotations := make([]porcupine.Annotation, 0, len(l.notes))
	for _, n := range l.notes {
		annotations = append(annotations, porcupine.Annotation{
			Tag: "test", Start: n.Time, Description: n.Text,
		})
	}
	l.info.AddAnnotations(annotations)
	if err := porcupine.VisualizePath(l.model, l.info, path); err != nil {
		return fmt.Errorf("visualize history: %w", err)
	}
	return nil
}
