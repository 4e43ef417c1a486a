package server

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	api "golog/api/v1"
)

// rpc calls one of the four RPCs with client and returns the status the server
// answered with. Stream errors are read where gRPC reports them: a stream's Send
// may return io.EOF once the server has ended the stream, and the status itself
// comes from Recv.
type rpc struct {
	name string
	call func(ctx context.Context, client api.LogClient) error
}

var everyRPC = []rpc{
	{"Produce", func(ctx context.Context, c api.LogClient) error {
		_, err := c.Produce(ctx, &api.ProduceRequest{Record: record("x")})
		return err
	}},
	{"Consume", func(ctx context.Context, c api.LogClient) error {
		_, err := c.Consume(ctx, &api.ConsumeRequest{Offset: 0})
		return err
	}},
	{"ProduceStream", func(ctx context.Context, c api.LogClient) error {
		stream, err := c.ProduceStream(ctx)
		if err != nil {
			return err
		}
		_ = stream.Send(&api.ProduceRequest{Record: record("x")}) // io.EOF if already refused
		_, err = stream.Recv()
		return err
	}},
	{"ConsumeStream", func(ctx context.Context, c api.LogClient) error {
		stream, err := c.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
		if err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}},
}

func TestRootMayCallEveryRPC(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("first")})
	require.NoError(t, err)
	for _, rpc := range everyRPC {
		t.Run(rpc.name, func(t *testing.T) {
			require.NoError(t, rpc.call(t.Context(), f.client))
		})
	}
}

func TestNobodyIsDeniedEveryRPC(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("root's")})
	require.NoError(t, err)
	nobody := f.dial(t, grpc.WithTransportCredentials(f.clientTLS(t, f.certs.NobodyClientCertFile, f.certs.NobodyClientKeyFile)))

	for _, rpc := range everyRPC {
		t.Run(rpc.name, func(t *testing.T) {
			err := rpc.call(t.Context(), nobody)
			requireCode(t, codes.PermissionDenied, err)
			require.Contains(t, err.Error(), `"nobody" may not`)
		})
	}
	require.Equal(t, uint64(1), f.log.Status().NextOffset, "nobody appended a record")
}

// TestUntrustedClientsAreRejected connects with credentials that must fail the TLS
// handshake, or that never start one. No handler runs: the call fails with
// UNAVAILABLE (the connection is refused) and the log is unchanged.
func TestUntrustedClientsAreRejected(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name  string
		creds func(t *testing.T) grpc.DialOption
	}{
		{"no client certificate", func(t *testing.T) grpc.DialOption {
			return grpc.WithTransportCredentials(f.clientTLS(t, "", ""))
		}},
		{"certificate from another CA", func(t *testing.T) grpc.DialOption {
			return grpc.WithTransportCredentials(f.clientTLS(t, f.certs.OtherCAClientCertFile, f.certs.OtherCAClientKeyFile))
		}},
		{"expired certificate", func(t *testing.T) grpc.DialOption {
			return grpc.WithTransportCredentials(f.clientTLS(t, f.certs.ExpiredClientCertFile, f.certs.ExpiredClientKeyFile))
		}},
		{"plaintext", func(t *testing.T) grpc.DialOption {
			return grpc.WithTransportCredentials(insecure.NewCredentials())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := f.dial(t, tt.creds(t))
			for _, rpc := range everyRPC {
				err := rpc.call(t.Context(), client)
				requireCode(t, codes.Unavailable, err)
			}
		})
	}
	require.Equal(t, uint64(0), f.log.Status().NextOffset, "a rejected client appended a record")
}
