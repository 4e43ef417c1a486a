package log

import "github.com/hashicorp/raft"

// Test-only access to a DistributedLog's insides, for the tests in package log_test
// that force snapshots and look at the Raft log.

// Raft returns d's raft.Raft.
func (d *DistributedLog) Raft() *raft.Raft { return d.raft }

// RaftFirstIndex returns the first index of d's Raft log store.
func (d *DistributedLog) RaftFirstIndex() (uint64, error) { return d.logStore.FirstIndex() }
