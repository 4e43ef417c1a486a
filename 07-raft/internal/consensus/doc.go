// Package consensus keeps the same log on every server of a cluster with Raft
// (github.com/hashicorp/raft): one server, the leader, appends; every server holds the
// same records at the same offsets and serves reads from its own copy.
//
// # The picture
//
// Appends go to the leader, which writes each one as an entry of Raft's own log and
// replicates it; once a majority has the entry on disk it is committed, and every server
// appends the record to its copy of the log, the data log, at the same offset (Raft
// paper §5.3).
//
//	Append ─▶ leader: Raft log (LogStore) ──replicate──▶ followers: Raft log
//	                        │ committed                         │ committed
//	                        ▼                                   ▼
//	                   data log (fsm)                      data log (fsm)
//
// # The parts, one file each
//
// Raft is a library with small interfaces as seams; this package fills them in with
// the storage package (golog/internal/log) underneath:
//
//   - distributed.go: DistributedLog, what the rest of the server uses: Append on the
//     leader, Read anywhere, Join and Leave to change the cluster. Read this first.
//   - fsm.go: raft.FSM, the state machine: a committed command appends a record to the
//     data log; snapshots of the data log let Raft drop old entries.
//   - log_store.go: raft.LogStore on a log.Log: Raft index i at offset i.
//   - stable_store.go: raft.StableStore on bbolt: the current term and vote.
//   - stream_layer.go: raft.StreamLayer: Raft's connections, TLS on the port gRPC
//     shares.
//   - leadership.go, raft_logger.go: leadership changes for the agent; raft's log lines
//     into slog.
//
// On disk, under a DistributedLog's data directory:
//
//	data/            the data log, rebuilt from Raft on every start (see fsm)
//	raft/log/        the Raft log, a log.Log, plus its first-index file
//	raft/stable.db   term and vote
//	raft/snapshots/  the newest snapshots of the data log
//
// What the storage package gives the Raft log beyond what a log needs anyway is small:
// TruncateFrom, to cut entries that conflict with the leader's (§5.3), and RestartAt,
// to start again at a later index after a snapshot (§7).
package consensus
