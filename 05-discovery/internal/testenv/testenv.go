// Package testenv holds what every test package of this module shares: the -debug flag,
// TestMain with a goroutine-leak check, a test logger, data directories, and how long a
// test waits for something to happen.
//
// Every package with tests has a main_test.go that goes through it:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Then `go test -v -debug=true` in any package folder shows the package's debug logs
// and keeps the data the tests wrote, printing where it is.
package testenv

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// How long a test waits for something to happen, and how often it looks meanwhile. Tests
// never sleep to let something happen: they wait for an event, a channel or a condition,
// and fail after WaitFor. WaitFor is generous, for -race on a busy machine; what the tests
// wait for takes milliseconds.
const (
	WaitFor = 20 * time.Second
	Tick    = 20 * time.Millisecond
)

// Eventually fails the test unless condition returns true within WaitFor, calling it every
// Tick. msgAndArgs say what was awaited, as in require.Eventually.
func Eventually(t testing.TB, condition func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, condition, WaitFor, Tick, msgAndArgs...)
}

// Within calls f and fails the test if f returns an error or has not returned within
// WaitFor. It is meant for cleanups that stop a server: a server whose stop waits for a
// handler that never returns would otherwise hang the test until go test's own timeout
// (10 minutes) and end it with a goroutine dump instead of a failure. f is left running
// then, and the leak check of Main reports it.
func Within(t testing.TB, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		require.NoError(t, err, what)
	case <-time.After(WaitFor):
		t.Fatalf("%s has not returned after %s", what, WaitFor)
	}
}

// debug is the -debug flag. It is registered once here, so that every test package of
// the module accepts it, and `go test ./... -debug=true` works from the module root.
var debug = flag.Bool("debug", false, "log at Debug level through the test output and keep test data directories")

// Main runs the tests of a package and then fails the run if any goroutine the tests
// started is still running (goleak.VerifyTestMain). Call it from TestMain. It does not
// return: it exits the process with the tests' status.
func Main(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Debug reports whether the tests run with -debug. It is only meaningful once the flags
// are parsed, that is inside a test.
func Debug() bool {
	return *debug
}

// Logger returns a logger for the code under test. With -debug it writes every record
// from Debug level up through t.Output(), so lines show up next to the test that caused
// them (with -v, or when the test fails); otherwise it discards everything.
//
// Lines logged after t has finished, by a goroutine that is still winding down (Serf's
// and memberlist's do), are dropped: the testing package panics on such writes.
func Logger(t testing.TB) *slog.Logger {
	t.Helper()
	if !*debug {
		return slog.New(slog.DiscardHandler)
	}
	w := &testWriter{w: t.Output()}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter passes writes on to a test's output until the test finishes.
type testWriter struct {
	mu sync.Mutex
	w  io.Writer // guarded by mu; nil once the test has finished
}

func (tw *testWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.w == nil {
		return len(p), nil
	}
	return tw.w.Write(p)
}

func (tw *testWriter) close() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.w = nil
}

// TempDir returns a new, empty directory for the test's data. Normally it is t.TempDir(),
// removed when the test ends. With -debug it is kept after the test, so its files can be
// looked at, and its path is logged.
func TempDir(t testing.TB) string {
	t.Helper()
	if !*debug {
		return t.TempDir()
	}
	name := strings.NewReplacer("/", "_", " ", "_", string(os.PathSeparator), "_").Replace(t.Name())
	dir, err := os.MkdirTemp("", "golog-"+name+"-")
	if err != nil {
		t.Fatalf("testenv.TempDir: %v", err)
	}
	t.Logf("data directory (kept): %s", dir)
	return dir
}
