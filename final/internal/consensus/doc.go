// Package consensus replicates the log with Raft (github.com/hashicorp/raft): one
// server, the leader, appends; every server holds the same records at the same offsets
// and serves reads from its own copy.
//
// # The pieces
//
//	Append ─▶ leader: Raft log ──AppendEntries──▶ followers: Raft log
//	   ▲          (LogStore, fsync)                   (LogStore, fsync)
//	   │                 │ committed: on a majority's disks │
//	   │                 ▼                                  ▼
//	   └──────── state machine (fsm)               state machine (fsm)
//	  offset          data log + producer table        data log + producer table
//
//	raft/log/          the Raft log: a storage.Log, Raft index i at offset i (LogStore)
//	raft/stable.db     the current term and vote (StableStore, on bbolt)
//	raft/snapshots/    snapshots: hard links to data log segments (SnapshotStore)
//	data/              the data log: the records clients read (fsm)
//
// Raft's connections between servers are TLS over a StreamLayer that shares the
// server's port with gRPC (the first byte tells them apart).
//
// # The guarantees, and where each is kept
//
//   - An append is acknowledged once it is committed: on the disks of a majority of
//     servers (Durability SyncEveryWrite) and applied by the leader (Append). A cluster
//     of 2f+1 servers loses no acknowledged record with f of them down, and refuses
//     appends with more down.
//   - Every failed append says whether it was applied (errors.go): not applied, or
//     maybe applied. An idempotent append (a producer ID and sequence number) retried
//     after "maybe" is applied once (producers.go).
//   - A read never contradicts an acknowledgement: a server serves no reads until it
//     has caught up after its start (catchUp), and a linearizable read reflects every
//     append acknowledged before it began, on any server (ReadIndex, waitApplied).
//   - Restarting and snapshotting cost the same whatever the log's size: the data log
//     is kept across restarts and entries it holds already are recognised, not
//     appended again (fsm); a snapshot links segment files instead of copying them
//     (snapshot.go), and a follower that needs one gets the files streamed.
//   - Retention removes the same records on every server: the leader decides, in a
//     command of the Raft log (retention.go).
package consensus
