package consensus

import "github.com/hashicorp/raft"

// Test-only access to the insides of a DistributedLog and a LogStore, for the tests in
// package consensus_test that force snapshots, look at the Raft log, and crash the log store
// between two changes to its files.

// Raft returns d's raft.Raft.
func (d *DistributedLog) Raft() *raft.Raft { return d.raft }

// RaftFirstIndex returns the first index of d's Raft log store.
func (d *DistributedLog) RaftFirstIndex() (uint64, error) { return d.logStore.FirstIndex() }

// Transport returns the transport d's raft sends its RPCs with.
func (d *DistributedLog) Transport() raft.Transport { return d.transport }

// LockData takes the state machine's lock, so that it blocks in its next Apply, until
// unlock is called.
func (d *DistributedLog) LockData() (unlock func()) {
	d.fsm.mu.Lock()
	return d.fsm.mu.Unlock
}

// SetRestoring makes d behave as while it restores a snapshot, or not.
func (d *DistributedLog) SetRestoring(on bool) { d.fsm.restoring.Store(on) }

// AfterEachStep makes s call step after each change to its files that TruncateFrom
// (DeleteRange of the newest entries) and a restart at another index (StoreLogs on an
// empty store) make, with what was done. Call it before using s.
func (s *LogStore) AfterEachStep(step func(done string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.AfterEachStep(step)
	s.afterStep = step
}

// WriteFirstIndex writes the first-index file of the log store in dir.
var WriteFirstIndex = writeFirstIndex
