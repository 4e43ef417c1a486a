package client

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/config"
	"golog/internal/testenv"
)

// serveTLS accepts one connection on a TLS listener that requires a client
// certificate, writes greeting once the handshake is done, and returns the listener's
// address and a channel with the server's handshake error.
func serveTLS(t *testing.T, certs testenv.CertFiles, greeting string) (string, <-chan error) {
	t.Helper()
	serverTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	serverTLS.NextProtos = []string{"h2"} // gRPC's credentials insist on it
	lis, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lis.Close() })
	handshake := make(chan error, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			handshake <- err
			return
		}
		defer conn.Close()
		err = conn.(*tls.Conn).HandshakeContext(t.Context())
		handshake <- err
		if err == nil {
			_, _ = io.WriteString(conn, greeting)
			_, _ = io.Copy(io.Discard, conn) // until the client closes
		}
	}()
	return lis.Addr().String(), handshake
}

func TestTheHandshakeReportsARefusedCertificate(t *testing.T) {
	certs := testenv.Certs(t)
	for _, tc := range []struct {
		name      string
		cert, key string
		wantErr   string
	}{
		{name: "no certificate", wantErr: "tls: certificate required"},
		{name: "an expired certificate", cert: certs.ExpiredClientCertFile, key: certs.ExpiredClientKeyFile,
			wantErr: "tls: expired certificate"},
		{name: "a good certificate", cert: certs.RootClientCertFile, key: certs.RootClientKeyFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, serverErr := serveTLS(t, certs, "settings")
			clientTLS, err := config.SetupTLSConfig(config.TLSConfig{CertFile: tc.cert, KeyFile: tc.key, CAFile: certs.CAFile})
			require.NoError(t, err)
			raw, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			t.Cleanup(func() { _ = raw.Close() })

			conn, _, err := newCreds(clientTLS).ClientHandshake(t.Context(), "127.0.0.1", raw)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Error(t, <-serverErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, <-serverErr)
			// The bytes read to check the handshake reach the caller all the same.
			got := make([]byte, len("settings"))
			_, err = io.ReadFull(conn, got)
			require.NoError(t, err)
			require.Equal(t, "settings", string(got))
			require.NoError(t, conn.Close())
		})
	}
}
