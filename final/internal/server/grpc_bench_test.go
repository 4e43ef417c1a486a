package server

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	api "golog/api/v1"
)

// Produce throughput over loopback, one record of 100 bytes at a time:
//
//	go test -run '^$' -bench Produce -benchmem ./internal/server/
//
// Each benchmark reports records/s and the p50 and p99 latency of one record: for
// the unary RPC, a full round trip; for the stream, the time from sending a request
// to receiving its answer, with up to `window` requests in flight.

var benchValue = make([]byte, 100)

func BenchmarkProduceUnary(b *testing.B) {
	f := newFixture(b, nil)
	req := &api.ProduceRequest{Record: &api.Record{Value: benchValue}}
	var latencies []time.Duration
	for b.Loop() {
		start := time.Now()
		_, err := f.client.Produce(b.Context(), req)
		latencies = append(latencies, time.Since(start))
		require.NoError(b, err)
	}
	reportLatencies(b, latencies)
}

func BenchmarkProduceStream(b *testing.B) {
	const window = 64
	f := newFixture(b, nil)
	stream, err := f.client.ProduceStream(b.Context())
	require.NoError(b, err)
	req := &api.ProduceRequest{Record: &api.Record{Value: benchValue}}

	sent := make(chan time.Time, window) // send times of the requests in flight
	received := make(chan []time.Duration, 1)
	n := b.N
	go func() {
		latencies := make([]time.Duration, 0, n)
		for range n {
			if _, err := stream.Recv(); err != nil {
				break
			}
			latencies = append(latencies, time.Since(<-sent))
		}
		received <- latencies
	}()
	b.ResetTimer()
	for range n {
		sent <- time.Now()
		require.NoError(b, stream.Send(req))
	}
	latencies := <-received
	b.StopTimer()
	require.Len(b, latencies, n, "answers received")
	require.NoError(b, stream.CloseSend())
	reportLatencies(b, latencies)
}

// reportLatencies adds records/s, p50 and p99 to the benchmark's results.
func reportLatencies(b *testing.B, latencies []time.Duration) {
	b.Helper()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	percentile := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds())
	}
	b.ReportMetric(float64(len(latencies))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(percentile(0.50), "p50-µs")
	b.ReportMetric(percentile(0.99), "p99-µs")
}
