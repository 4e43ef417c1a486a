package server

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/dynamicpb"

	api "golog/api/v1"
	"golog/internal/log"
	"golog/internal/testenv"
)

func TestExercise3_Stats(t *testing.T) {
	method := api.File_api_v1_log_proto.Services().ByName("Log").Methods().ByName("Stats")
	require.NotNil(t, method, "service log.v1.Log has no rpc Stats yet: edit api/v1/log.proto and run make compile")
	out := method.Output()
	lowest, next := out.Fields().ByName("lowest_offset"), out.Fields().ByName("next_offset")
	require.NotNil(t, lowest, "StatsResponse has no field lowest_offset")
	require.NotNil(t, next, "StatsResponse has no field next_offset")

	var c log.Config
	c.Segment.MaxIndexBytes = 2 * 12 // two records per segment
	l, err := log.NewLog(t.TempDir(), c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	srv, err := NewGRPCServer(GRPCConfig{Log: l, Logger: testenv.Logger(t)})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { testenv.Within(t, "Shutdown", func() error { return srv.Shutdown(context.Background()) }) })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })

	stats := func() (uint64, uint64) {
		t.Helper()
		res := dynamicpb.NewMessage(out)
		err := conn.Invoke(t.Context(), "/log.v1.Log/Stats", dynamicpb.NewMessage(method.Input()), res)
		require.NoError(t, err, "call Stats")
		return res.Get(lowest).Uint(), res.Get(next).Uint()
	}
	lo, nx := stats()
	require.Equal(t, [2]uint64{0, 0}, [2]uint64{lo, nx}, "an empty log")
	for range 5 {
		_, err := l.Append(&log.Record{Value: []byte("x")})
		require.NoError(t, err)
	}
	require.NoError(t, l.Truncate(2)) // removes the first segment, offsets 0 and 1
	lo, nx = stats()
	require.Equal(t, [2]uint64{2, 5}, [2]uint64{lo, nx}, "after five appends and Truncate(2)")
}
