package consensus_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"golog/internal/consensus"
)

// defaultSegments gives the benchmarks' clusters the default segments, not the tests'
// small ones, which roll every few records.
func defaultSegments(c *consensus.Config) { c.Segment.MaxIndexBytes = 0 }

// BenchmarkDistributedLogAppend appends 100-byte records to a cluster of three servers
// on loopback, from 1 and from 16 goroutines. Each append returns once a majority has
// the record on disk (fsync) and the leader has applied it. It reports records/s.
func BenchmarkDistributedLogAppend(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := newCluster(b, 3, defaultSegments)
			leader := c.leader().dlog
			record := make([]byte, 100)
			var done atomic.Int64 // appends started
			var wg sync.WaitGroup
			b.ResetTimer()
			for range clients {
				wg.Go(func() {
					for done.Add(1) <= int64(b.N) {
						if _, err := appendOne(leader, record); err != nil {
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

// BenchmarkDistributedLogPipelined proposes 100-byte records one after the other from
// one goroutine without waiting for each, keeping up to 1000 in flight, as a
// ProduceStream does, on a cluster of three. It reports records/s.
func BenchmarkDistributedLogPipelined(b *testing.B) {
	c := newCluster(b, 3, defaultSegments)
	leader := c.leader().dlog
	record := make([]byte, 100)
	window := make(chan *consensus.Proposal, 1000)
	done := make(chan error, 1)
	go func() {
		for p := range window {
			if _, err := p.Wait(context.Background()); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.ResetTimer()
	for range b.N {
		p, err := leader.Propose(context.Background(), consensus.AppendRequest{Values: [][]byte{record}})
		if err != nil {
			b.Fatal(err)
		}
		window <- p
	}
	close(window)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
