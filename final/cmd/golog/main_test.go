package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"golog/internal/testenv"
)

// commandProcessEnv, set in a process's environment, makes the test binary run main
// instead of the tests: that is how the tests start real golog processes, which they
// can signal and kill (see startProcess).
const commandProcessEnv = "GOLOG_TEST_COMMAND_PROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(commandProcessEnv) != "" {
		// This process is a golog command that a test started, with the arguments
		// the test gave.
		main()
		return
	}
	testenv.Main(m)
}

// How long to wait for a server to start, elect itself, apply its records or stop,
// and how often to look.
const (
	waitFor = 30 * time.Second
	tick    = 20 * time.Millisecond
)

// clearEnv unsets, for the test, every GOLOG_ variable of the environment the tests
// run in, so that an operator's settings do not leak into them. (Set to empty, which
// the agent command treats as unset; t.Setenv restores them afterwards.)
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, envPrefix+"_") {
			t.Setenv(name, "")
		}
	}
}
