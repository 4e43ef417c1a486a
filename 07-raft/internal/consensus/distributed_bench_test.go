package consensus_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"golog/internal/log"
)

// BenchmarkDistributedLogAppend appends 100-byte records to a cluster of three servers
// on loopback, from 1 and from 16 goroutines. Each append returns once a majority has
// the record on disk (fsync) and the leader has applied it. It reports records/s.
func BenchmarkDistributedLogAppend(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := newCluster(b, 3, nil)
			leader := c.leader().dlog
			record := &log.Record{Value: make([]byte, 100)}
			var done atomic.Int64 // appends started
			var wg sync.WaitGroup
			b.ResetTimer()
			for range clients {
				wg.Go(func() {
					for done.Add(1) <= int64(b.N) {
						if _, err := leader.Append(record); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
