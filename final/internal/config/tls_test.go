package config_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/config"
	"golog/internal/testenv"
)

// handshakeTimeout bounds one TLS handshake over loopback, so that a mistake shows as a
// failure instead of a hung test.
const handshakeTimeout = 10 * time.Second

func TestSetupTLSConfig(t *testing.T) {
	certs := testenv.Certs(t)

	tests := []struct {
		name  string
		cfg   config.TLSConfig
		check func(t *testing.T, c *tls.Config)
	}{
		{
			name: "server",
			cfg: config.TLSConfig{
				CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile,
				ServerAddress: "ignored by servers", Server: true,
			},
			check: func(t *testing.T, c *tls.Config) {
				require.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
				require.Len(t, c.Certificates, 1)
				require.Equal(t, tls.RequireAndVerifyClientCert, c.ClientAuth)
				require.NotNil(t, c.ClientCAs)
				require.Nil(t, c.RootCAs)
				require.Empty(t, c.ServerName)
			},
		},
		{
			name: "client with certificate",
			cfg: config.TLSConfig{
				CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile, CAFile: certs.CAFile,
				ServerAddress: "127.0.0.1",
			},
			check: func(t *testing.T, c *tls.Config) {
				require.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
				require.Len(t, c.Certificates, 1)
				require.NotNil(t, c.RootCAs)
				require.Equal(t, "127.0.0.1", c.ServerName)
				require.Equal(t, tls.NoClientCert, c.ClientAuth)
				require.Nil(t, c.ClientCAs)
			},
		},
		{
			name: "client without certificate",
			cfg:  config.TLSConfig{CAFile: certs.CAFile, ServerAddress: "localhost"},
			check: func(t *testing.T, c *tls.Config) {
				require.Empty(t, c.Certificates)
				require.NotNil(t, c.RootCAs)
				require.Equal(t, "localhost", c.ServerName)
			},
		},
		{
			name: "client trusting the system CAs",
			cfg:  config.TLSConfig{CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile},
			check: func(t *testing.T, c *tls.Config) {
				require.Len(t, c.Certificates, 1)
				require.Nil(t, c.RootCAs, "nil RootCAs means the system's CAs")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.SetupTLSConfig(tt.cfg)
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestSetupTLSConfigErrors(t *testing.T) {
	certs := testenv.Certs(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	empty := filepath.Join(dir, "empty.pem")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	notPEM := filepath.Join(dir, "not-pem.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o644))

	server := func(cert, key, ca string) config.TLSConfig {
		return config.TLSConfig{CertFile: cert, KeyFile: key, CAFile: ca, Server: true}
	}
	tests := []struct {
		name  string
		cfg   config.TLSConfig
		check func(t *testing.T, err error)
	}{
		{
			name:  "server without CA file",
			cfg:   server(certs.ServerCertFile, certs.ServerKeyFile, ""),
			check: errorIs(config.ErrIncomplete),
		},
		{
			name:  "server without certificate",
			cfg:   server("", "", certs.CAFile),
			check: errorIs(config.ErrIncomplete),
		},
		{
			name:  "client certificate without key",
			cfg:   config.TLSConfig{CertFile: certs.RootClientCertFile, CAFile: certs.CAFile},
			check: errorIs(config.ErrIncomplete),
		},
		{
			name:  "missing certificate file",
			cfg:   server(missing, certs.ServerKeyFile, certs.CAFile),
			check: errorIs(fs.ErrNotExist),
		},
		{
			name:  "missing key file",
			cfg:   server(certs.ServerCertFile, missing, certs.CAFile),
			check: errorIs(fs.ErrNotExist),
		},
		{
			name:  "missing CA file",
			cfg:   server(certs.ServerCertFile, certs.ServerKeyFile, missing),
			check: errorIs(fs.ErrNotExist),
		},
		{
			name:  "CA path is a directory",
			cfg:   server(certs.ServerCertFile, certs.ServerKeyFile, dir),
			check: errorContains("read CA file"),
		},
		{
			name:  "empty CA file",
			cfg:   server(certs.ServerCertFile, certs.ServerKeyFile, empty),
			check: errorIs(config.ErrNoCertificate),
		},
		{
			name:  "CA file that is not PEM",
			cfg:   server(certs.ServerCertFile, certs.ServerKeyFile, notPEM),
			check: errorIs(config.ErrNoCertificate),
		},
		{
			name:  "CA file holding a key",
			cfg:   server(certs.ServerCertFile, certs.ServerKeyFile, certs.ServerKeyFile),
			check: errorIs(config.ErrNoCertificate),
		},
		{
			name:  "key of another certificate",
			cfg:   server(certs.ServerCertFile, certs.RootClientKeyFile, certs.CAFile),
			check: errorContains("private key does not match public key"),
		},
		{
			name:  "certificate file that is not PEM",
			cfg:   server(notPEM, certs.ServerKeyFile, certs.CAFile),
			check: errorContains("load certificate"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.SetupTLSConfig(tt.cfg)
			require.Error(t, err)
			require.Nil(t, c)
			tt.check(t, err)
		})
	}
}

// TestHandshakeServerVerifiesClient runs real TLS handshakes between the server
// configuration and different clients. The server decides: it is the one that must
// refuse a client it cannot trust, so the server side's error is what is checked.
func TestHandshakeServerVerifiesClient(t *testing.T) {
	certs := testenv.Certs(t)
	serverConfig, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)

	client := func(cert, key string) config.TLSConfig {
		return config.TLSConfig{CertFile: cert, KeyFile: key, CAFile: certs.CAFile, ServerAddress: "127.0.0.1"}
	}
	tests := []struct {
		name       string
		client     config.TLSConfig
		maxVersion uint16 // 0: the newest both sides support (TLS 1.3)
		wantCN     string // the verified client's CN when the handshake succeeds
		wantErr    func(t *testing.T, err error)
	}{
		{
			name:   "root client",
			client: client(certs.RootClientCertFile, certs.RootClientKeyFile),
			wantCN: "root",
		},
		{
			name:       "root client over TLS 1.2",
			client:     client(certs.RootClientCertFile, certs.RootClientKeyFile),
			maxVersion: tls.VersionTLS12,
			wantCN:     "root",
		},
		{
			// TLS only proves who the client is; whether nobody may do anything is the
			// authorizer's question.
			name:   "nobody client",
			client: client(certs.NobodyClientCertFile, certs.NobodyClientKeyFile),
			wantCN: "nobody",
		},
		{
			name:   "client from another CA",
			client: client(certs.OtherCAClientCertFile, certs.OtherCAClientKeyFile),
			wantErr: func(t *testing.T, err error) {
				var unknown x509.UnknownAuthorityError
				require.ErrorAs(t, err, &unknown)
			},
		},
		{
			name:   "expired client",
			client: client(certs.ExpiredClientCertFile, certs.ExpiredClientKeyFile),
			wantErr: func(t *testing.T, err error) {
				var invalid x509.CertificateInvalidError
				require.ErrorAs(t, err, &invalid)
				require.Equal(t, x509.Expired, invalid.Reason)
			},
		},
		{
			name:    "client without certificate",
			client:  client("", ""),
			wantErr: errorContains("client didn't provide a certificate"),
		},
		{
			name:       "client without certificate over TLS 1.2",
			client:     client("", ""),
			maxVersion: tls.VersionTLS12,
			wantErr:    errorContains("client didn't provide a certificate"),
		},
		{
			name:       "client speaking only TLS 1.1",
			client:     client(certs.RootClientCertFile, certs.RootClientKeyFile),
			maxVersion: tls.VersionTLS11,
			wantErr:    errorContains("unsupported versions"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientConfig, err := config.SetupTLSConfig(tt.client)
			require.NoError(t, err)
			if tt.maxVersion != 0 {
				clientConfig.MinVersion = min(clientConfig.MinVersion, tt.maxVersion)
				clientConfig.MaxVersion = tt.maxVersion
			}

			server, _ := handshake(t, serverConfig, clientConfig)

			if tt.wantErr != nil {
				require.Error(t, server.err, "server handshake")
				tt.wantErr(t, server.err)
				return
			}
			require.NoError(t, server.err, "server handshake")
			if tt.maxVersion != 0 {
				require.Equal(t, tt.maxVersion, server.state.Version)
			}
			require.NotEmpty(t, server.state.VerifiedChains)
			require.Equal(t, tt.wantCN, server.state.VerifiedChains[0][0].Subject.CommonName)
		})
	}
}

// TestHandshakeClientVerifiesServer checks the other direction: a client accepts the
// server only under a name the server certificate lists, and only from its CA.
func TestHandshakeClientVerifiesServer(t *testing.T) {
	certs := testenv.Certs(t)
	serverConfig, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile, CAFile: certs.CAFile, Server: true,
	})
	require.NoError(t, err)

	hostnameError := func(t *testing.T, err error) {
		var hostname x509.HostnameError
		require.ErrorAs(t, err, &hostname)
	}
	tests := []struct {
		name       string
		serverName string
		caFile     string
		wantErr    func(t *testing.T, err error)
	}{
		{name: "localhost", serverName: "localhost", caFile: certs.CAFile},
		{name: "IPv4 loopback", serverName: "127.0.0.1", caFile: certs.CAFile},
		{name: "IPv6 loopback", serverName: "::1", caFile: certs.CAFile},
		{
			name:       "name not in the certificate",
			serverName: "golog.example",
			caFile:     certs.CAFile,
			wantErr:    hostnameError,
		},
		{
			// Go matches the name against the SANs only, never against the CN.
			name:       "the CN is not a name",
			serverName: "server",
			caFile:     certs.CAFile,
			wantErr:    hostnameError,
		},
		{
			name:       "client trusting another CA",
			serverName: "localhost",
			caFile:     certs.OtherCAFile,
			wantErr: func(t *testing.T, err error) {
				var unknown x509.UnknownAuthorityError
				require.ErrorAs(t, err, &unknown)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientConfig, err := config.SetupTLSConfig(config.TLSConfig{
				CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile,
				CAFile: tt.caFile, ServerAddress: tt.serverName,
			})
			require.NoError(t, err)

			server, clientErr := handshake(t, serverConfig, clientConfig)

			if tt.wantErr != nil {
				require.Error(t, clientErr, "client handshake")
				tt.wantErr(t, clientErr)
				require.Error(t, server.err, "the server sees the client give up")
				return
			}
			require.NoError(t, clientErr, "client handshake")
			require.NoError(t, server.err, "server handshake")
		})
	}
}

// serverSide is the outcome of a handshake on the server's end of the connection.
type serverSide struct {
	state tls.ConnectionState
	err   error
}

// handshake runs one TLS handshake between a server with serverConfig and a client with
// clientConfig over a loopback TCP connection, and returns both sides' results. It
// returns when both sides have finished.
func handshake(t *testing.T, serverConfig, clientConfig *tls.Config) (server serverSide, clientErr error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), handshakeTimeout)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	done := make(chan serverSide, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- serverSide{err: err}
			return
		}
		defer conn.Close()
		tlsConn := tls.Server(conn, serverConfig)
		err = tlsConn.HandshakeContext(ctx)
		done <- serverSide{state: tlsConn.ConnectionState(), err: err}
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	clientErr = tls.Client(conn, clientConfig).HandshakeContext(ctx)

	return <-done, clientErr
}

// errorIs returns a check that err wraps target.
func errorIs(target error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		require.ErrorIs(t, err, target)
	}
}

// errorContains returns a check that err's message contains s.
func errorContains(s string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		require.ErrorContains(t, err, s)
	}
}
