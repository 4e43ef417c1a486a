package log

import "github.com/hashicorp/raft"

// Test-only access to the insides of a DistributedLog and a LogStore, for the tests in
// package log_test that force snapshots, look at the Raft log, and write the log
// store's files.

// Raft returns d's raft.Raft.
func (d *DistributedLog) Raft() *raft.Raft { return d.raft }

// RaftFirstIndex returns the first index of d's Raft log store.
func (d *DistributedLog) RaftFirstIndex() (uint64, error) { return d.logStore.FirstIndex() }

// WriteFirstIndex writes the first-index file of the log store in dir.
var WriteFirstIndex = writeFirstIndex
