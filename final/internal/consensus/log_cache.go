package consensus

import (
	"sync"

	"github.com/hashicorp/raft"
)

// logCache keeps the newest Raft entries in memory in front of a LogStore: Raft reads
// each entry back soon after storing it (the leader to send it to the followers, a
// follower to apply it), and the cache answers those reads instead of the disk.
//
// It is raft.LogCache with a bound on memory: an entry is cached only if its data is
// at most maxCachedEntryBytes (one append may make an entry as large as a segment), so
// the cache holds at most cachedEntries × maxCachedEntryBytes, 16 MiB. Like
// raft.LogCache, it caches an entry only once StoreLogs has made it durable, and
// forgets everything on DeleteRange. Safe for concurrent use.
type logCache struct {
	*LogStore

	mu      sync.RWMutex
	entries [cachedEntries]*raft.Log // entry i at i % cachedEntries; guarded by mu
}

// Limits of the cache.
const (
	cachedEntries       = 64
	maxCachedEntryBytes = maxEntryBytes
)

var _ raft.LogStore = (*logCache)(nil)
var _ raft.MonotonicLogStore = (*logCache)(nil)

// GetLog answers from the cache if it holds the entry at index, else from the store.
func (c *logCache) GetLog(index uint64, out *raft.Log) error {
	c.mu.RLock()
	cached := c.entries[index%cachedEntries]
	c.mu.RUnlock()
	if cached != nil && cached.Index == index {
		*out = *cached // Raft does not modify what GetLog gives it
		return nil
	}
	return c.LogStore.GetLog(index, out)
}

// StoreLog stores one entry; see StoreLogs.
func (c *logCache) StoreLog(entry *raft.Log) error {
	return c.StoreLogs([]*raft.Log{entry})
}

// StoreLogs stores the entries, then caches those small enough.
func (c *logCache) StoreLogs(entries []*raft.Log) error {
	if err := c.LogStore.StoreLogs(entries); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		slot := &c.entries[e.Index%cachedEntries]
		*slot = nil
		if len(e.Data)+len(e.Extensions) <= maxCachedEntryBytes {
			*slot = e
		}
	}
	return nil
}

// DeleteRange forgets every cached entry and removes the range from the store.
func (c *logCache) DeleteRange(from, to uint64) error {
	c.mu.Lock()
	c.entries = [cachedEntries]*raft.Log{}
	c.mu.Unlock()
	return c.LogStore.DeleteRange(from, to)
}
