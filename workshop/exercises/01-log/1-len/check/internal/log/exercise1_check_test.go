package log_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// lener is the method the exercise adds.
type lener interface{ Len() uint64 }

func TestExercise1_Len(t *testing.T) {
	l := openLog(t, t.TempDir(), config(0, 3*12, 0)) // three records per segment
	ll, ok := any(l).(lener)
	require.True(t, ok, "*log.Log has no method Len() uint64 yet")

	require.Equal(t, uint64(0), ll.Len(), "an empty log")
	appendRecords(t, l, 0, 5)
	require.Equal(t, uint64(5), ll.Len(), "after five appends")
	require.NoError(t, l.Truncate(3)) // removes the first segment: offsets 0 to 2
	require.Equal(t, uint64(2), ll.Len(), "after Truncate(3)")
	require.NoError(t, l.Reset())
	require.Equal(t, uint64(0), ll.Len(), "after Reset")
}
