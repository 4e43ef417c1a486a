// Package history records what clients of a golog cluster asked and were answered, and
// checks that record against the cluster's promise: an acknowledged record is never
// lost, never duplicated, and every reader sees the same order.
//
// # Recording
//
// Each client operation is an Op: the time it was invoked, the time its answer came
// back, and the answer. A Recorder hands out those times from one monotonic clock, so
// that "acknowledged before the read began" means the same thing for every client:
//
//	p := rec.Append(client, "grpc", "n1", value) // invocation time taken here
//	off, err := c.Produce(ctx, value)
//	switch { // completion time taken by each of these
//	case err == nil:
//		p.Appended(off)
//	case notApplied(err):
//		p.Failed(err)
//	default:
//		p.Maybe(err)
//	}
//
// Every appended value is unique (the workload makes it so), which is what lets the
// checks find an append's record in a server's log, and count it.
//
// # Outcomes
//
// An append ends in one of three ways, and the cluster's errors say which:
//
//	OK       acknowledged at an offset
//	Failed   definitely not applied (the error said applied: no)
//	Unknown  maybe applied: a timeout, a lost connection, "leadership lost"
//
// A read ends with a value, with "not found", or with an error; an error says nothing
// about the log, so such a read is kept for the report and ignored by the checks.
//
// # The checks
//
// After the faults have healed, the final log of every server is read (Log) and these
// checks run, each returning a Report that names the operations at fault:
//
//  1. CheckAckedPresent: every acknowledged append is present exactly once, at its
//     acknowledged offset, on every server.
//  2. CheckIdentical: every server holds the same records at the same offsets, with no gaps,
//     and nothing that no client wrote.
//  3. CheckLinearizable: the history is linearizable against a sequential
//     append-only log whose reads obey the consistency level they asked for (checked
//     with the porcupine model checker; Visualize writes its HTML view).
//  4. CheckMaybeOnce: an append that ended Unknown is present once or absent, never twice;
//     one that ended Failed is absent.
//  5. CheckNoStaleNotFound: no read answered "not found" for an offset that had been
//     acknowledged before the read began: no linearizable read, and no local read sent
//     to a server that started after the acknowledgement (Recorder.Started), which
//     must have caught up before serving.
//
// Check runs them all and adds the figures of the run (Stats).
//
// The package knows nothing of how operations reach the cluster: the chaos suite and
// unit tests feed it alike, and the unit tests show each check failing on a history
// that breaks its rule.
package history
