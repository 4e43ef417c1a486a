package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// TestBenchScript runs make bench's script, final/bench/bench.sh, as make bench does
// but with every case once, for a second, on a few records: it must start its cluster,
// print the probe, a row for each case (each run verified by golog bench) and the
// servers' memory, and stop the cluster. It asserts no speed.
func TestBenchScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds golog and starts a cluster of three processes")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "bench", "bench.sh"))
	require.NoError(t, err)
	clearEnv(t)
	dir := testenv.TempDir(t)
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "BENCH_DIR="+dir, "BENCH_RUNS=1", "BENCH_SECONDS=1", "BENCH_CONSUME_COUNT=2000",
		"BENCH_PROBE_ARGS=--syncs 20 --write-bytes 1048576 --stream-bytes 1048576 --round-trips 100")
	done := make(chan struct{})
	var out []byte
	go func() {
		defer close(done)
		out, err = cmd.CombinedOutput()
	}()
	select {
	case <-done:
	case <-time.After(scriptStartTimeout):
		require.NoError(t, cmd.Process.Kill())
		<-done
		t.Fatalf("bench.sh did not finish in %s:\n%s", scriptStartTimeout, out)
	}
	require.NoError(t, err, "bench.sh:\n%s", out)
	text := string(out)
	for _, want := range []string{"machine probe:", "append + fdatasync µs: p50 ", "| case | runs | records/s |",
		"| stream produce, 1 client, window 4096 | 1 |", "| unary produce, 16 clients | 1 |",
		"| unary produce, 1 client | 1 |", "| batch produce, 100 a call, 4 clients | 1 |",
		"| stream consume from a follower, 1 client | 1 |", "| 1 KiB stream produce, 1 client, window 4096 | 1 |",
		"| HTTP JSON produce, 16 clients | 1 |", "Peak resident memory", "bench: stopping the cluster"} {
		require.Contains(t, text, want)
	}
	results, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	require.Equal(t, 7, strings.Count(string(results), `acknowledged records read back`)+
		strings.Count(string(results), `streams each read the`), "seven verified runs")
}
