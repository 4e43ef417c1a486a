package main

import (
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// TestPausedLeaderStopsGracefully pauses the leader of three server processes with
// SIGSTOP while writes go to it, lets the other two elect a new leader, resumes the old
// one, which then learns of the newer term from the servers it was replicating to, and
// stops it with SIGTERM: it must exit on its own, as any graceful stop must.
//
// A leader that replicates through raft's pipelined transport (two AppendEntries in
// flight per follower) can hang at that point: the goroutine reading the follower's
// answers stops at the newer term, while the one sending may already be blocked handing
// its next request to that reader, and raft's Shutdown waits for it for ever.
func TestPausedLeaderStopsGracefully(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 2 * time.Second}

	a := startProcess(t, "a", testenv.TempDir(t), "")
	b := startProcess(t, "b", testenv.TempDir(t), a.bindAddr)
	c := startProcess(t, "c", testenv.TempDir(t), a.bindAddr)
	status, body, err := post(client, a.httpAddr, "first")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, body)
	for _, p := range []*process{b, c} {
		require.Eventually(t, func() bool { return holds(client, p.httpAddr, 0, "first") }, testenv.WaitFor, testenv.Tick,
			"%s never got the first record", p.name)
	}

	// Keep writing to a, so that it has entries to replicate when it wakes up.
	stopWriting := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopWriting:
					return
				default:
				}
				_, _, _ = post(client, a.httpAddr, fmt.Sprintf("w%d-%d", w, i))
			}
		})
	}
	t.Cleanup(func() {
		close(stopWriting)
		writers.Wait()
	})

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGSTOP))
	t.Log("paused a, the leader (SIGSTOP)")
	require.Eventually(t, func() bool {
		for _, p := range []*process{b, c} {
			if status, _, err := post(client, p.httpAddr, "after"); err == nil && status == http.StatusOK {
				return true
			}
		}
		return false
	}, testenv.WaitFor, testenv.Tick, "b and c did not elect a new leader while a was paused")
	t.Log("b and c elected a new leader")

	newerTerm := a.watch(`peer has newer term|entering follower state`)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGCONT))
	select {
	case <-newerTerm:
		t.Log("resumed a (SIGCONT); it has seen the newer term")
	case <-time.After(testenv.WaitFor):
		t.Fatal("a never learned of the newer term after it was resumed")
	}

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-a.exited:
		t.Log("a stopped gracefully after SIGTERM")
	case <-time.After(testenv.WaitFor):
		_ = a.cmd.Process.Kill()
		<-a.exited
		t.Fatalf("a did not stop within %s of SIGTERM", testenv.WaitFor)
	}
}
