package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	api "golog/api/v1"
	"golog/internal/testenv"
)

func TestExercise2_ConsumeWaitsForTheNextRecord(t *testing.T) {
	var counter *countingLog
	f := newFixture(t, func(l StreamingLog) StreamingLog {
		counter = &countingLog{StreamingLog: l}
		return counter
	})
	_, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("first")})
	require.NoError(t, err)

	_, err = f.client.Consume(t.Context(), &api.ConsumeRequest{Offset: 5})
	requireCode(t, codes.OutOfRange, err) // not the next offset: no wait

	type result struct {
		res *api.ConsumeResponse
		err error
	}
	done := make(chan result, 1)
	before := counter.reads.Load()
	go func() {
		res, err := f.client.Consume(t.Context(), &api.ConsumeRequest{Offset: 1})
		done <- result{res, err}
	}()
	// Consume has read offset 1 and found nothing there: now it must wait.
	testenv.Eventually(t, func() bool { return counter.reads.Load() > before }, "Consume(1) never read the log")
	select {
	case r := <-done:
		t.Fatalf("Consume(1) answered before offset 1 was written: %v, %v", r.res, r.err)
	default:
	}
	_, err = f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("second")})
	require.NoError(t, err)
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Equal(t, "second", string(r.res.Record.Value))
	case <-time.After(testenv.WaitFor):
		t.Fatal("Consume(1) did not answer after offset 1 was written")
	}
	require.LessOrEqual(t, counter.reads.Load()-before, int64(3), "Consume(1) polled the log while it waited")

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = f.client.Consume(ctx, &api.ConsumeRequest{Offset: 2})
	requireCode(t, codes.DeadlineExceeded, err)
}
