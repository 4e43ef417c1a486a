package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// TestKilledFollowerRejoinsWithEveryRecord runs three golog agent processes, kills a
// follower with SIGKILL in the middle of a stream of writes, restarts it on the same
// data directory, and checks that it ends up with every record the leader
// acknowledged, at the same offsets.
func TestKilledFollowerRejoinsWithEveryRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: waitFor}

	a := startProcess(t, "a", testenv.TempDir(t), "")
	b := startProcess(t, "b", testenv.TempDir(t), a.bindAddr)
	c := startProcess(t, "c", testenv.TempDir(t), a.bindAddr)

	// a started the cluster and leads. Once b and c hold a record, they are voters.
	const total, killAfter = 200, 100
	acked := make([]string, 0, total)
	status, body, err := post(client, a.httpAddr, "v000")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `{"offset":0}`, body)
	acked = append(acked, "v000")
	for _, p := range []*process{b, c} {
		require.Eventually(t, func() bool { return holds(client, p.httpAddr, 0, "v000") }, waitFor, tick,
			"%s never got the first record", p.name)
	}

	// Write on; after killAfter acknowledgements, kill c while the writes go on.
	var wg sync.WaitGroup
	killNow := make(chan struct{})
	wg.Go(func() {
		<-killNow
		c.kill(t)
		t.Logf("killed c (SIGKILL) after %d acknowledged writes", killAfter)
	})
	for i := 1; i < total; i++ {
		value := fmt.Sprintf("v%03d", i)
		status, body, err := post(client, a.httpAddr, value)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, fmt.Sprintf(`{"offset":%d}`, len(acked)), body, "offsets are dense")
		acked = append(acked, value)
		if len(acked) == killAfter {
			close(killNow)
		}
	}
	wg.Wait()
	t.Logf("a acknowledged %d writes with b and c, then with b alone", len(acked))

	c = c.restart(t, a.bindAddr)
	require.Eventually(t, func() bool {
		for offset, value := range acked {
			if !holds(client, c.httpAddr, offset, value) {
				return false
			}
		}
		return true
	}, 2*waitFor, 100*time.Millisecond, "the restarted c does not hold every acknowledged record")
	for offset, value := range acked {
		require.True(t, holds(client, b.httpAddr, offset, value), "b: offset %d", offset)
	}
	t.Logf("c came back and holds all %d records at the same offsets as a and b", len(acked))
}
