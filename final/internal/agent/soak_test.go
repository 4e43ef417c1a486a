package agent_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	api "golog/api/v1"
)

// TestSoak runs a mixed load on a three-server cluster for GOLOG_SOAK (such as 5m;
// make soak sets it) and then checks that nothing leaked: once the load stops, the
// goroutines go back to what they were after a warm-up, and the heap in use is no larger
// than twice what it was at the middle of the run, plus a margin. Without GOLOG_SOAK it
// skips, saying so.
func TestSoak(t *testing.T) {
	d := os.Getenv("GOLOG_SOAK")
	if d == "" {
		t.Skip("skipped: the soak runs with GOLOG_SOAK=<duration> (make soak)")
	}
	duration, err := time.ParseDuration(d)
	require.NoError(t, err, "GOLOG_SOAK")

	c := newCluster(t, nil)
	nodes := c.startN(3)
	ctx, stop := context.WithCancel(t.Context())
	var ops sync.Map // worker -> count
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() { soakWorker(ctx, nodes, w, &ops) })
	}
	follow := c.client(leader(t, nodes).rpcAddr, c.rootTLS)
	wg.Go(func() {
		stream, err := follow.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
		if err != nil {
			return
		}
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	})

	wait := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-t.Context().Done():
		}
	}
	wait(min(duration/10, 30*time.Second)) // warm-up: connections, buffers, pools
	baseGoroutines := runtime.NumGoroutine()
	wait(duration / 2)
	midHeap := heapInUse()
	midGoroutines := runtime.NumGoroutine()
	wait(duration / 2)
	stop()
	wg.Wait()

	total := 0
	ops.Range(func(_, v any) bool { total += v.(int); return true })
	endHeap := heapInUse()
	t.Logf("soak: %d operations in %v; goroutines %d after warm-up, %d mid-run, %d at the end; heap in use %d MiB mid-run, %d MiB at the end",
		total, duration, baseGoroutines, midGoroutines, runtime.NumGoroutine(), midHeap>>20, endHeap>>20)
	require.Positive(t, total)
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= baseGoroutines+10 },
		waitFor, tick, "goroutines: %d at the end, %d after warm-up", runtime.NumGoroutine(), baseGoroutines)
	require.LessOrEqual(t, endHeap, 2*midHeap+32<<20, "the heap grew from %d MiB mid-run to %d MiB", midHeap>>20, endHeap>>20)
}

// soakWorker produces and consumes through gRPC and HTTP on servers chosen at random
// until ctx ends.
func soakWorker(ctx context.Context, nodes []*node, w int, ops *sync.Map) {
	rng := rand.New(rand.NewPCG(uint64(w), 7))
	n := 0
	defer func() { ops.Store(w, n) }()
	for ; ctx.Err() == nil; n++ {
		nd := nodes[rng.IntN(len(nodes))]
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		switch rng.IntN(4) {
		case 0:
			nd.client.Produce(octx, &api.ProduceRequest{Record: &api.Record{Value: fmt.Appendf(nil, "soak-%d-%d", w, n)}})
		case 1:
			nd.client.Consume(octx, &api.ConsumeRequest{Offset: uint64(rng.IntN(max(n, 1)))})
		case 2:
			req, _ := http.NewRequestWithContext(octx, http.MethodPost, nd.httpURL+"/",
				strings.NewReader(fmt.Sprintf(`{"record":{"value":"soak-http-%d-%d"}}`, w, n)))
			if res, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		default:
			req, _ := http.NewRequestWithContext(octx, http.MethodGet, fmt.Sprintf("%s/?offset=%d&consistency=local", nd.httpURL, rng.IntN(max(n, 1))), nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
		cancel()
	}
}
