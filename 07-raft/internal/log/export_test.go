package log

import "github.com/hashicorp/raft"

// Test-only access to a DistributedLog's insides, for the tests in package log_test
// that force snapshots and look at the Raft log.

// Raft returns d's raft.Raft.
func (d *DistributedLog) Raft() *raft.Raft { return d.raft }

// RaftFirstIndex returns the first index of d's Raft log store.
func (d *DistributedLog) RaftFirstIndex() (uint64, error) { return d.logStore.FirstIndex() }

// Transport returns the transport d's raft sends its RPCs with.
func (d *DistributedLog) Transport() raft.Transport { return d.transport }

// LockData takes the data log's lock for writing, so that the state machine blocks in
// its next Apply, until unlock is called.
func (d *DistributedLog) LockData() (unlock func()) {
	d.data.mu.Lock()
	return d.data.mu.Unlock
}

// SetRestoring makes d behave as while it restores a snapshot, or not.
func (d *DistributedLog) SetRestoring(on bool) { d.fsm.restoring.Store(on) }
