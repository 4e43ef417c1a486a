package server

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	api "golog/api/v1"
)

func TestExercise1_EmptyValue(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{}})
	requireCode(t, codes.InvalidArgument, err)
	require.Equal(t, uint64(0), f.log.NextOffset(), "nothing is appended")

	res, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("x")})
	require.NoError(t, err, "a record with a value is still accepted")
	require.Equal(t, uint64(0), res.Offset)
}
