package auth_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"golog/internal/auth"
	"golog/internal/config"
	"golog/internal/testenv"
)

// subjectHeader is the response header in which the test server reports what
// auth.Subject returned for the call.
const subjectHeader = "test-subject"

// TestSubject calls a real gRPC server (the standard health service) whose interceptor
// runs auth.Subject, over connections that do and do not carry a verified client
// certificate.
func TestSubject(t *testing.T) {
	certs := testenv.Certs(t)

	tests := []struct {
		name              string
		clientAuth        tls.ClientAuthType // the server's demand on client certificates
		certFile, keyFile string             // the client's certificate; empty: none
		plaintext         bool               // neither side uses TLS
		wantSubject       string             // empty: want Unauthenticated with wantMsg
		wantMsg           string
	}{
		{
			name:        "root over mutual TLS",
			clientAuth:  tls.RequireAndVerifyClientCert,
			certFile:    certs.RootClientCertFile,
			keyFile:     certs.RootClientKeyFile,
			wantSubject: "root",
		},
		{
			name:        "nobody over mutual TLS",
			clientAuth:  tls.RequireAndVerifyClientCert,
			certFile:    certs.NobodyClientCertFile,
			keyFile:     certs.NobodyClientKeyFile,
			wantSubject: "nobody",
		},
		{
			// A server that verifies only the certificates it is given lets this client
			// in without one.
			name:       "TLS without a client certificate",
			clientAuth: tls.VerifyClientCertIfGiven,
			wantMsg:    "no verified client certificate",
		},
		{
			// A server that requires a certificate but does not verify it accepts this
			// one from another CA; its CN says "root", but nothing vouches for it.
			name:       "TLS with an unverified client certificate",
			clientAuth: tls.RequireAnyClientCert,
			certFile:   certs.OtherCAClientCertFile,
			keyFile:    certs.OtherCAClientKeyFile,
			wantMsg:    "no verified client certificate",
		},
		{
			name:      "plaintext",
			plaintext: true,
			wantMsg:   "the connection is not TLS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverCreds, clientCreds := insecure.NewCredentials(), insecure.NewCredentials()
			if !tt.plaintext {
				serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
					CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
				})
				require.NoError(t, err)
				serverTLS.ClientAuth = tt.clientAuth
				clientTLS, err := config.SetupTLSConfig(config.TLSConfig{
					CertFile: tt.certFile, KeyFile: tt.keyFile, CAFile: certs.CAFile, ServerAddress: "127.0.0.1",
				})
				require.NoError(t, err)
				serverCreds, clientCreds = credentials.NewTLS(serverTLS), credentials.NewTLS(clientTLS)
			}
			client := newHealthClient(t, serverCreds, clientCreds)

			var header metadata.MD
			_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.Header(&header))

			if tt.wantSubject != "" {
				require.NoError(t, err)
				require.Equal(t, []string{tt.wantSubject}, header.Get(subjectHeader))
				return
			}
			require.Equal(t, codes.Unauthenticated, status.Code(err), "error: %v", err)
			require.Equal(t, tt.wantMsg, status.Convert(err).Message())
		})
	}
}

func TestSubjectWithoutPeer(t *testing.T) {
	subject, err := auth.Subject(t.Context())
	require.Empty(t, subject)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "error: %v", err)
}

// newHealthClient starts a gRPC server with serverCreds on a loopback port, serving the
// standard health service behind an interceptor that puts auth.Subject's answer in the
// response header subjectHeader, and returns a client connected with clientCreds. Both
// are closed when the test ends.
func newHealthClient(t *testing.T, serverCreds, clientCreds credentials.TransportCredentials) healthpb.HealthClient {
	t.Helper()
	reportSubject := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		subject, err := auth.Subject(ctx)
		if err != nil {
			return nil, err
		}
		if err := grpc.SetHeader(ctx, metadata.Pairs(subjectHeader, subject)); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	server := grpc.NewServer(grpc.Creds(serverCreds), grpc.UnaryInterceptor(reportSubject))
	healthpb.RegisterHealthServer(server, health.NewServer())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()
	t.Cleanup(func() {
		server.Stop()
		require.NoError(t, <-served)
	})

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(clientCreds))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	return healthpb.NewHealthClient(conn)
}
