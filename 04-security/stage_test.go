// The tour of chapter 04: the gRPC service over mutual TLS, with an ACL.
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
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/auth"
	"golog/internal/config"
	"golog/internal/log"
	"golog/internal/server"
	"golog/internal/testenv"
)

func TestTour(t *testing.T) {
	t.Log("certificates made in-process with CFSSL from certs/*.json: a CA, the server, clients root and nobody")
	certs := testenv.Certs(t)
	serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	acl, err := auth.New(testenv.ACL(t))
	require.NoError(t, err)

	l, err := log.NewLog(testenv.TempDir(t), log.Config{Logger: testenv.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	srv, err := server.NewGRPCServer(server.GRPCConfig{Log: l, TLS: serverTLS, Authorizer: acl, Logger: testenv.Logger(t)})
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
	t.Logf("the Log service listens on %s, TLS only, client certificates required", lis.Addr())

	connect := func(certFile, keyFile string) api.LogClient {
		clientTLS, err := config.SetupTLSConfig(config.TLSConfig{
			CertFile: certFile, KeyFile: keyFile, CAFile: certs.CAFile, ServerAddress: "127.0.0.1",
		})
		require.NoError(t, err)
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, conn.Close()) })
		return api.NewLogClient(conn)
	}
	ctx := t.Context()
	record := &api.Record{Value: []byte("AA")}

	root := connect(certs.RootClientCertFile, certs.RootClientKeyFile)
	res, err := root.Produce(ctx, &api.ProduceRequest{Record: record})
	require.NoError(t, err)
	t.Logf("root: Produce(AA) -> offset %d", res.Offset)
	got, err := root.Consume(ctx, &api.ConsumeRequest{Offset: res.Offset})
	require.NoError(t, err)
	t.Logf("root: Consume(%d) -> %q", res.Offset, got.Record.Value)

	nobody := connect(certs.NobodyClientCertFile, certs.NobodyClientKeyFile)
	_, err = nobody.Produce(ctx, &api.ProduceRequest{Record: record})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	t.Logf("nobody: Produce(AA) -> %v", err)
	_, err = nobody.Consume(ctx, &api.ConsumeRequest{Offset: 0})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	t.Logf("nobody: Consume(0) -> %v", err)

	stranger := connect("", "")
	_, err = stranger.Consume(ctx, &api.ConsumeRequest{Offset: 0})
	require.Equal(t, codes.Unavailable, status.Code(err))
	t.Logf("no certificate: Consume(0) -> %v", err)

	require.Equal(t, uint64(1), l.NextOffset())
	t.Log("the log holds root's record only")
}
