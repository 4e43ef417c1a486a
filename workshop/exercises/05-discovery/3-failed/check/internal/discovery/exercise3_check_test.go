package discovery_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/discovery"
	"golog/internal/testenv"
)

// failRecorder is a Handler with a Failed method; it records every call as "op name".
type failRecorder struct {
	mu    sync.Mutex
	calls []string // guarded by mu
}

func (r *failRecorder) add(op, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, op+" "+name)
	return nil
}

func (r *failRecorder) Join(name, _ string) error { return r.add("join", name) }
func (r *failRecorder) Leave(name string) error   { return r.add("leave", name) }
func (r *failRecorder) Failed(name string) error  { return r.add("failed", name) }

func (r *failRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *failRecorder) has(call string) bool { return slices.Contains(r.snapshot(), call) }

func TestExercise3_FailedApartFromLeave(t *testing.T) {
	h := &failRecorder{}
	a, err := discovery.New(h, testConfig(t, "a"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Leave()) })
	b := start(t, &recorder{}, testConfig(t, "b", a.BindAddr()))
	c := start(t, &recorder{}, testConfig(t, "c", a.BindAddr()))
	testenv.Eventually(t, func() bool { return h.has("join b") && h.has("join c") }, "a never saw b and c join")

	require.NoError(t, b.Leave())
	testenv.Eventually(t, func() bool { return h.has("leave b") }, "a's handler was never told that b left")
	require.NoError(t, c.Crash())
	testenv.Eventually(t, func() bool { return h.has("failed c") || h.has("leave c") }, "a never noticed that c crashed")
	require.True(t, h.has("failed c"), "c crashed: Failed, not Leave; calls: %v", h.snapshot())
	require.False(t, h.has("failed b"), "b left gracefully: Leave, not Failed")
}
