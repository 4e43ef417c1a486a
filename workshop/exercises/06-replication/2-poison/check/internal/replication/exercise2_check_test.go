package replication_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/log"
	"golog/internal/testenv"
)

func TestExercise2_SkipARecordTooLarge(t *testing.T) {
	var c log.Config
	c.Segment.MaxStoreBytes = 64
	c.Logger = testenv.Logger(t)
	local, err := log.NewLog(t.TempDir(), c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, local.Close()) })

	peerLog, addr, _ := startPeer(t)
	produce(t, peerLog, "p", "small-1", strings.Repeat("x", 100), "small-2")
	r := newReplicator(t, local)
	require.NoError(t, r.Join("p", addr))
	waitForContents(t, local, "p/small-1", "p/small-2")
}
