package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// TestAgentStopsOnSignal sends SIGINT or SIGTERM to a golog agent process: it must stop
// gracefully, and exit with status 0.
func TestAgentStopsOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProcess(t, "a", testenv.TempDir(t), "")
			transport := &http.Transport{}
			t.Cleanup(transport.CloseIdleConnections)
			status, body, err := post(&http.Client{Transport: transport}, p.httpAddr, "AA")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status, body)

			stopped := p.watch(`msg=stopped`)
			require.NoError(t, p.cmd.Process.Signal(sig))
			select {
			case <-p.exited:
			case <-time.After(waitFor):
				t.Fatalf("golog agent did not exit within %s of %s", waitFor, sig)
			}
			require.Equal(t, 0, p.cmd.ProcessState.ExitCode(), "exit status after %s", sig)
			select {
			case <-stopped:
			default:
				t.Fatal("golog agent exited without logging that it stopped")
			}
		})
	}
}

// TestAgentSecondSignalStopsAtOnce keeps a golog agent process from stopping quickly
// (an HTTP request in flight, whose body never comes, holds the graceful stop for the
// HTTP server's shutdown timeout), sends SIGTERM, and once the server is stopping, a
// second SIGTERM: that one must end the process at once, by the signal's default
// action, instead of waiting for the graceful stop (which would exit 1 after the
// timeout, as the request never finishes).
func TestAgentSecondSignalStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	p := startProcess(t, "a", testenv.TempDir(t), "")

	conn, err := net.Dial("tcp", p.httpAddr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: golog\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	require.NoError(t, err)
	// The server says 100 Continue when the handler starts reading the body: from now
	// on, the request is in flight.
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1 100 Continue\r\n", line)

	stopping := p.watch(`msg="stopping gracefully`)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-stopping:
	case <-p.exited:
		t.Fatalf("golog agent exited at the first signal: %v", p.cmd.ProcessState)
	case <-time.After(waitFor):
		t.Fatalf("golog agent did not start stopping within %s of SIGTERM", waitFor)
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(waitFor):
		t.Fatalf("golog agent did not exit within %s of a second SIGTERM", waitFor)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled(), "ended by the second signal, not by itself: %v", p.cmd.ProcessState)
	require.Equal(t, syscall.SIGTERM, ws.Signal())
	t.Logf("golog agent: %v", p.cmd.ProcessState)
}
