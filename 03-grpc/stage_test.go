// The tour of chapter 03: the log as a gRPC service.
//
//	go test -v -debug=true
package golog_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/log"
	"golog/internal/server"
	"golog/internal/testenv"
)

func TestTour(t *testing.T) {
	l, err := log.NewLog(testenv.TempDir(t), log.Config{Logger: testenv.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })

	srv, err := server.NewGRPCServer(server.GRPCConfig{Log: l, Logger: testenv.Logger(t)})
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		testenv.Within(t, "Shutdown", func() error {
			return errors.Join(srv.Shutdown(context.Background()), <-served)
		})
	})
	t.Logf("the Log service listens on %s", lis.Addr())

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	client := api.NewLogClient(conn)
	ctx := t.Context()

	res, err := client.Produce(ctx, &api.ProduceRequest{Record: &api.Record{Value: []byte("AA")}})
	require.NoError(t, err)
	t.Logf("Produce(AA) -> offset %d", res.Offset)

	got, err := client.Consume(ctx, &api.ConsumeRequest{Offset: res.Offset})
	require.NoError(t, err)
	require.Equal(t, "AA", string(got.Record.Value))
	t.Logf("Consume(%d) -> %q", res.Offset, got.Record.Value)

	_, err = client.Consume(ctx, &api.ConsumeRequest{Offset: 1})
	require.Equal(t, codes.OutOfRange, status.Code(err))
	t.Logf("Consume(1) -> %v", err)

	t.Log("ConsumeStream from offset 0: the old record, then records produced later")
	stream, err := client.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	t.Logf("stream <- %q at offset %d; the stream now waits", first.Record.Value, first.Record.Offset)
	for _, value := range []string{"BB", "CC"} {
		_, err := client.Produce(ctx, &api.ProduceRequest{Record: &api.Record{Value: []byte(value)}})
		require.NoError(t, err)
		next, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, value, string(next.Record.Value))
		t.Logf("stream <- %q at offset %d, produced after the stream opened", next.Record.Value, next.Record.Offset)
	}
}
