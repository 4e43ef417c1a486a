// Package replication copies records between the servers of a cluster, so that each
// server's log holds the records produced on all of them.
//
// # The problem
//
// Each server keeps its own log. A client that produces on server a and consumes from
// server b should find its record on b too, and if a is lost, its records should
// still be somewhere.
//
// # Pulling from each peer
//
// A Replicator runs on every server. The discovery package tells it which other
// servers are members of the cluster (Join, Leave). For each one it opens a
// ConsumeStream on that server's gRPC service, as a client like any other, and appends
// to the local log the records the stream sends. The stream stays open at the end of
// the peer's log, so new records arrive as soon as they are produced. Nothing is
// pushed: each server pulls what it wants from the others.
//
// # Only from the origin
//
// Every record carries the name of the server it was produced on, its Origin (the
// server stamps it; clients cannot choose it). A Replicator copies from a peer only the
// records whose Origin is that peer, and keeps the Origin on the copy. With AA produced
// on a and BB on c, the three logs end up as
//
//	a:  0 AA (origin a)   1 BB (origin c)    BB copied from c
//	b:  0 AA (origin a)   1 BB (origin c)    AA copied from a, BB from c
//	c:  0 BB (origin c)   1 AA (origin a)    AA copied from a
//
// and b's stream from c, say, sends BB, copied, and AA, skipped: b has it from a.
//
// Without that rule, every server would copy the copies: b copies a's record, a copies
// it back from b, b copies that from a, and so on for ever, as the servers all pull
// from each other.
//
// # Where each stream goes on from
//
// For each peer, the Replicator remembers the offset in the peer's log that comes after
// the last record it has dealt with (copied or skipped). When a stream breaks (the
// peer restarts, the network fails), it waits a little, longer after each failure in a
// row, dials again and goes on from there. After a Leave and a later Join, for
// instance when a peer comes back after a failure, it goes on from there too. So a
// record is copied once per Replicator.
//
// # What it does not do
//
// This is the simplest replication that works, and it is weak:
//
//   - The places are kept in memory only. A server that restarts copies every peer's
//     log again from offset 0, and holds each of their records twice.
//   - Offsets are local. Each server numbers records in the order they reach it, so
//     the same record has different offsets on different servers, and the servers'
//     logs are in different orders. A consumer cannot move to another server and go
//     on at the same offset.
//   - Every server accepts writes, and nothing decides between them: there is no single
//     order of the cluster's records, only one per server.
//   - A record is acknowledged when its origin has stored it. If the origin is lost
//     before a peer has copied it, the record is lost.
//   - A peer that comes back under the same name with an empty log is asked for records
//     from the offset it had reached before, and what it writes below that offset is
//     never copied.
//
// Consensus (Raft) removes these limits: one leader orders all writes, a write is
// acknowledged once a majority stores it, and every server holds the same log at the
// same offsets.
package replication
