package client

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSequencerKeepsTheNumbersInUseWithinTheWindow(t *testing.T) {
	s := newSequencer(4)
	for want := uint64(1); want <= 4; want++ {
		got, err := s.acquire(t.Context())
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	// A done context: acquire says at once whether a number is free.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.acquire(done)
	require.ErrorIs(t, err, context.Canceled, "5 is handed out while 1 is in use")

	// Releasing a newer number does not help: 1 still is.
	s.release(3)
	_, err = s.acquire(done)
	require.ErrorIs(t, err, context.Canceled, "5 is handed out while 1 is in use")

	// A caller waiting for a number gets one as soon as the oldest is released.
	got := make(chan uint64)
	go func() {
		seq, err := s.acquire(t.Context())
		if err == nil {
			got <- seq
		}
	}()
	s.release(1)
	require.Equal(t, uint64(5), <-got)
	_, err = s.acquire(done)
	require.ErrorIs(t, err, context.Canceled, "6 is handed out while 2 is in use")

	// With 2 released, 4 is the oldest in use: up to 7 may be.
	s.release(2)
	for want := uint64(6); want <= 7; want++ {
		seq, err := s.acquire(done)
		require.NoError(t, err)
		require.Equal(t, want, seq)
	}
	_, err = s.acquire(done)
	require.ErrorIs(t, err, context.Canceled, "8 is handed out while 4 is in use")
}
