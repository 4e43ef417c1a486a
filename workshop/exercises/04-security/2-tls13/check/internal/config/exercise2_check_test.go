package config_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/config"
	"golog/internal/testenv"
)

func TestExercise2_TLS13Only(t *testing.T) {
	certs := testenv.Certs(t)
	server, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)
	client, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile, CAFile: certs.CAFile,
		ServerAddress: "127.0.0.1",
	})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), server.MinVersion, "the server's minimum version")
	require.Equal(t, uint16(tls.VersionTLS13), client.MinVersion, "the client's minimum version")

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = tls.Server(conn, server).Handshake()
			}()
		}
	}()
	old := client.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	conn, err := tls.Dial("tcp", lis.Addr().String(), old)
	if err == nil {
		_ = conn.Close()
	}
	require.Error(t, err, "a client that speaks TLS 1.2 at most must not get through")
}
