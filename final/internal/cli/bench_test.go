package cli_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golog/client"
	"golog/internal/agent"
	"golog/internal/bench"
	"golog/internal/cli"
)

// TestBench runs each workload of golog bench for a few hundred records on a real
// cluster of three, and checks that each one read back and verified what it wrote.
// It asserts no speed.
func TestBench(t *testing.T) {
	var httpAddr string
	c := newCluster(t, 3, func(cfg *agent.Config) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		cfg.HTTPListener = lis
		if httpAddr == "" {
			httpAddr = lis.Addr().String()
		}
	})
	flags := c.flags(c.certs.RootClientCertFile, c.certs.RootClientKeyFile)
	runs := []struct {
		args    []string
		records int64
	}{
		{[]string{"produce", "--mode", "unary", "--clients", "4", "--count", "200"}, 200},
		{[]string{"produce", "--mode", "stream", "--clients", "2", "--window", "16", "--count", "300"}, 300},
		{[]string{"produce", "--mode", "batch", "--batch", "32", "--clients", "2", "--count", "300", "--size", "1024"}, 300},
		{[]string{"produce", "--mode", "http", "--http", "http://" + httpAddr + "/", "--clients", "4", "--count", "200"}, 200},
		{[]string{"consume", "--mode", "stream", "--clients", "2", "--count", "500"}, 1000},
		{[]string{"consume", "--mode", "unary", "--clients", "4", "--count", "200", "--consistency", "local"}, 200},
	}
	for _, run := range runs {
		t.Run(fmt.Sprint(run.args[:3]), func(t *testing.T) {
			args := append(append(run.args, "--json", "--progress=false"), flags...)
			res := runBench(t, args...)
			require.NoError(t, res.err, "stderr: %s", res.errOut)
			var r bench.Result
			require.NoError(t, json.Unmarshal([]byte(res.out), &r), "output %q", res.out)
			assert.Equal(t, run.records, r.Records)
			assert.Positive(t, r.RecordsPerSecond)
			assert.NotEmpty(t, r.Verified)
			if run.args[0] == "produce" {
				assert.Contains(t, r.Verified, fmt.Sprintf("%d acknowledged records read back", run.records))
			}
		})
	}

	t.Run("text and progress", func(t *testing.T) {
		res := runBench(t, append([]string{"produce", "--count", "0", "--duration", "1500ms"}, flags...)...)
		require.NoError(t, res.err, "stderr: %s", res.errOut)
		assert.Contains(t, res.out, "produce/unary: ")
		assert.Contains(t, res.out, "records/s")
		assert.Contains(t, res.out, "latency µs: p50 ")
		assert.Contains(t, res.errOut, "bench: produce/unary: 1 s, ", "the progress line")
	})

	for _, bad := range [][]string{
		{"produce", "--mode", "sideways"},
		{"produce", "--mode", "stream", "--window", "65537"},
		{"produce", "--mode", "stream", "--window", "0"},
		{"produce", "--size", "8"},
		{"produce", "--count", "0"},
		{"produce", "--mode", "http", "--http", "ftp://x"},
		{"consume", "--count", "0"},
		{"consume", "--mode", "batch"},
	} {
		t.Run(fmt.Sprint("usage ", bad), func(t *testing.T) {
			res := runBench(t, append(bad, flags...)...)
			require.Error(t, res.err)
			assert.Equal(t, cli.ExitUsage, res.code, "%v", res.err)
		})
	}
}

// runBench runs golog bench with args.
func runBench(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, cli.NewBenchCommand, "", args...)
}

// BenchmarkCluster runs golog bench's workloads in this process against a cluster of
// three servers with Raft's default timing, so that a CPU or memory profile covers the
// servers and the client at once:
//
//	go test -run '^$' -bench Cluster -benchtime 20000x -cpuprofile cpu.out ./internal/cli/
//
// Each iteration is a record. It reports what golog bench reports.
func BenchmarkCluster(b *testing.B) {
	workloads := []struct {
		name string
		run  func(ctx context.Context, c *client.Client, s bench.Settings) (bench.Result, error)
		s    bench.Settings
	}{
		{"produce-stream", bench.ProduceStream, bench.Settings{Window: client.DefaultWindow}},
		{"produce-stream-8", bench.ProduceStream, bench.Settings{Window: client.DefaultWindow, Clients: 8}},
		{"produce-stream-1k", bench.ProduceStream, bench.Settings{Window: client.DefaultWindow, Size: 1024}},
		{"produce-unary-1", bench.ProduceUnary, bench.Settings{Clients: 1}},
		{"produce-unary-16", bench.ProduceUnary, bench.Settings{Clients: 16}},
		{"consume-stream", func(ctx context.Context, c *client.Client, s bench.Settings) (bench.Result, error) {
			return bench.ConsumeStream(ctx, c, client.Linearizable, s)
		}, bench.Settings{}},
	}
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			c := newCluster(b, 3, func(cfg *agent.Config) { cfg.RaftTune = nil })
			cl, err := client.New(b.Context(), client.Config{Addrs: []string{c.nodes[0].rpcAddr},
				TLS: c.tlsConfig(c.certs.RootClientCertFile, c.certs.RootClientKeyFile, false)})
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, cl.Close()) })
			s := w.s
			s.Size, s.Count = cmp.Or(s.Size, 100), int64(b.N)
			b.ResetTimer()
			r, err := w.run(b.Context(), cl, s)
			b.StopTimer()
			require.NoError(b, err)
			b.ReportMetric(r.RecordsPerSecond, "records/s")
			b.ReportMetric(r.Latency.P50, "p50-µs")
			b.ReportMetric(r.Latency.P99, "p99-µs")
		})
	}
}
