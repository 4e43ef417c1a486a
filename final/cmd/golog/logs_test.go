package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// With --log-format json, every line a server writes is one JSON object with time,
// level and msg, Raft's and Serf's lines among them (logger raft, serf, memberlist),
// from the start to the end of a server that joins a cluster and stops.
func TestJSONLogs(t *testing.T) {
	clearEnv(t)
	first := startProcess(t, "node-1", testenv.TempDir(t), "")
	certs := testenv.Certs(t)
	cmd := exec.Command(os.Args[0], "agent", "--node-name", "node-2", "--data-dir", testenv.TempDir(t),
		"--cert-dir", filepath.Dir(certs.CAFile), "--rpc-addr", "127.0.0.1:0", "--bind-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--join", first.bindAddr, "--log-format", "json")
	cmd.Env = append(os.Environ(), commandProcessEnv+"=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	type record = map[string]any
	records := make(chan record)
	bad := make(chan string, 1)
	done := make(chan error, 1)
	stop := make(chan struct{}) // closed when the test no longer reads
	t.Cleanup(func() { close(stop) })
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			line := scanner.Text()
			if testenv.Debug() {
				t.Log(line)
			}
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				select {
				case bad <- line:
				default:
				}
				continue
			}
			select {
			case records <- r:
			case <-stop:
				return // cmd.Process.Kill in the cleanup ends the process
			}
		}
		done <- cmd.Wait()
	}()

	// seen is what the lines so far have shown.
	seen := map[string]bool{}
	note := func(r record) {
		for _, key := range []string{"time", "level", "msg"} {
			_, ok := r[key].(string)
			require.True(t, ok, "a record without a %s string: %v", key, r)
		}
		logger, _ := r["logger"].(string)
		switch {
		case r["msg"] == "agent started":
			seen["started"] = true
		case strings.HasPrefix(logger, "raft"):
			seen["raft"] = true
		case logger == "serf" && strings.HasPrefix(r["msg"].(string), "EventMemberJoin"):
			seen["serf"] = true
		}
	}
	deadline := time.After(waitFor)
	for !seen["started"] || !seen["raft"] || !seen["serf"] {
		select {
		case r := <-records:
			note(r)
		case line := <-bad:
			t.Fatalf("a line that is not JSON: %q", line)
		case err := <-done:
			t.Fatalf("node-2 exited (%v) having seen %v", err, seen)
		case <-deadline:
			t.Fatalf("waited %s for the start, a Raft line and a Serf line; saw %v", waitFor, seen)
		}
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for {
		select {
		case r := <-records:
			note(r)
		case line := <-bad:
			t.Fatalf("a line that is not JSON: %q", line)
		case err := <-done:
			select {
			case line := <-bad:
				t.Fatalf("a line that is not JSON: %q", line)
			default:
			}
			require.NoError(t, err, "node-2 stops cleanly on SIGTERM")
			return
		case <-time.After(waitFor):
			t.Fatalf("node-2 did not stop within %s of SIGTERM", waitFor)
		}
	}
}
