package log

import "github.com/hashicorp/raft"

// Test-only access to the insides of a DistributedLog and a LogStore, for the tests in
// package log_test that force snapshots, look at the Raft log, and crash the log store
// between two changes to its files.

// Raft returns d's raft.Raft.
func (d *DistributedLog) Raft() *raft.Raft { return d.raft }

// RaftFirstIndex returns the first index of d's Raft log store.
func (d *DistributedLog) RaftFirstIndex() (uint64, error) { return d.logStore.FirstIndex() }

// AfterEachStep makes s call step after each change to its files that TruncateFrom
// (DeleteRange of the newest entries) and a restart at another index (StoreLogs on an
// empty store) make, with what was done. Call it before using s.
func (s *LogStore) AfterEachStep(step func(done string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.afterStep = step
}

// WriteFirstIndex writes the first-index file of the log store in dir.
var WriteFirstIndex = writeFirstIndex
