package testenv_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

func TestTempDirIsEmptyAndWritable(t *testing.T) {
	dir := testenv.TempDir(t)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
	require.NoError(t, os.WriteFile(dir+"/f", []byte("x"), 0o644))
}

func TestLoggerLevels(t *testing.T) {
	logger := testenv.Logger(t)

	require.Equal(t, testenv.Debug(), logger.Enabled(t.Context(), slog.LevelDebug), "Debug level is on exactly with -debug")
	logger.Debug("a debug line", "offset", 1) // shown with -debug -v, dropped otherwise
}

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	calls := 0
	testenv.Eventually(t, func() bool { calls++; return calls == 3 }, "the third call")
	require.Equal(t, 3, calls)
}

func TestWithinWaitsForF(t *testing.T) {
	called := false
	testenv.Within(t, "a quick stop", func() error { called = true; return nil })
	require.True(t, called)
}
