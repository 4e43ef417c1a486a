package consensus_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/storage"
	"golog/internal/testenv"
)

// BenchmarkLogStoreStoreLogsGroup stores Raft entries of 1 KiB (an entry of about ten
// 100-byte records) as Raft hands them over: one at a time, or 16 at a time (a
// follower's AppendEntries after a pause, or entries that arrived during the previous
// flush). Each StoreLogs call flushes once (group commit), so ns per entry falls with
// the group's size. It reports ns per entry.
func BenchmarkLogStoreStoreLogsGroup(b *testing.B) {
	for _, group := range []int{1, 16} {
		b.Run(fmt.Sprintf("entry=1KiB/group=%d", group), func(b *testing.B) {
			s, err := consensus.NewLogStore(testenv.TempDir(b), storage.Config{})
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, s.Close()) })
			data := make([]byte, 1024)
			next := uint64(1)
			logs := make([]*raft.Log, group)
			b.SetBytes(1024)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%group != 0 {
					continue // one call per group iterations: ns/op is per entry
				}
				for j := range logs {
					logs[j] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
					next++
				}
				if err := s.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
