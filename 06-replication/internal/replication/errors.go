package replication

import "errors"

// ErrClosed is returned by Replicator.Join after Close: a closed Replicator starts
// nothing new.
var ErrClosed = errors.New("replication: replicator is closed")
