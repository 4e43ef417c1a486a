package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	tlsconfig "golog/internal/config"
	"golog/internal/testenv"
)

// TestCertsInit runs golog certs init and uses what it writes the way servers and
// clients do: loaded by internal/config, in real TLS handshakes over TCP.
func TestCertsInit(t *testing.T) {
	dir := filepath.Join(testenv.TempDir(t), "certs")
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), newRootCommand(),
		[]string{"certs", "init", "--dir", dir, "--host", "golog.internal,10.0.0.5", "--host", "db.example"},
		&stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	for _, name := range []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "root-client.pem",
		"root-client-key.pem", "nobody-client.pem", "nobody-client-key.pem"} {
		require.Contains(t, stdout.String(), "wrote "+filepath.Join(dir, name)+"\n")
	}

	serverTLS, err := tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
		CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"),
		CAFile: filepath.Join(dir, "ca.pem"), Server: true,
	})
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })

	tests := []struct {
		client     string // the client certificate's files' base name
		serverName string // the host the client expects in the server certificate
		wantCN     string // the client's name as the server sees it
	}{
		{"root-client", "127.0.0.1", "root"},
		{"nobody-client", "localhost", "nobody"},
		{"root-client", "::1", "root"},
		{"root-client", "golog.internal", "root"},
		{"root-client", "10.0.0.5", "root"},
		{"root-client", "db.example", "root"},
		{"server", "127.0.0.1", "server"}, // servers dial each other with the server certificate
	}
	for _, tt := range tests {
		t.Run(tt.client+" to "+tt.serverName, func(t *testing.T) {
			clientTLS, err := tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
				CertFile: filepath.Join(dir, tt.client+".pem"), KeyFile: filepath.Join(dir, tt.client+"-key.pem"),
				CAFile: filepath.Join(dir, "ca.pem"), ServerAddress: tt.serverName,
			})
			require.NoError(t, err)
			require.Equal(t, tt.wantCN, handshake(t, ln, clientTLS))
		})
	}

	t.Run("not for other hosts", func(t *testing.T) {
		clientTLS, err := tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
			CertFile: filepath.Join(dir, "root-client.pem"), KeyFile: filepath.Join(dir, "root-client-key.pem"),
			CAFile: filepath.Join(dir, "ca.pem"), ServerAddress: "10.0.0.6",
		})
		require.NoError(t, err)
		served := make(chan string, 1)
		go func() { served <- serveOne(ln) }()
		conn, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		err = tls.Client(conn, clientTLS).HandshakeContext(t.Context())
		var invalid x509.HostnameError
		require.ErrorAs(t, err, &invalid)
		require.NoError(t, conn.Close())
		require.True(t, strings.HasPrefix(<-served, "error: "), "the server saw the handshake fail")
	})

	caBefore, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	require.NoError(t, err)
	stdout.Reset()
	stderr.Reset()
	code = execute(t.Context(), newRootCommand(), []string{"certs", "init", "--dir", dir}, &stdout, &stderr)
	require.Equal(t, exitFailed, code, "a second init without --force")
	require.Contains(t, stderr.String(), "ca.pem")
	require.Contains(t, stderr.String(), "--force")
	caAfter, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	require.NoError(t, err)
	require.Equal(t, caBefore, caAfter, "left alone")

	stdout.Reset()
	code = execute(t.Context(), newRootCommand(), []string{"certs", "init", "--dir", dir, "--keep-existing"}, &stdout, &stderr)
	require.Equal(t, exitOK, code, "every file is there: --keep-existing keeps them; stderr: %s", stderr.String())
	require.Equal(t, "kept the certificates in "+dir+"\n", stdout.String())
	caAfter, err = os.ReadFile(filepath.Join(dir, "ca.pem"))
	require.NoError(t, err)
	require.Equal(t, caBefore, caAfter, "kept")

	code = execute(t.Context(), newRootCommand(), []string{"certs", "init", "--dir", dir, "--force"}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	caAfter, err = os.ReadFile(filepath.Join(dir, "ca.pem"))
	require.NoError(t, err)
	require.NotEqual(t, caBefore, caAfter, "a new CA with --force")
}

// TestCertsInitKeepExistingPartial shows that --keep-existing keeps only a complete set:
// a directory with some of the files is refused and left as it was.
func TestCertsInitKeepExistingPartial(t *testing.T) {
	dir := testenv.TempDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("not a CA"), 0o644))
	var stdout, stderr bytes.Buffer
	code := execute(t.Context(), newRootCommand(), []string{"certs", "init", "--dir", dir, "--keep-existing"}, &stdout, &stderr)
	require.Equal(t, exitFailed, code)
	require.Contains(t, stderr.String(), "ca.pem")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing written beside the file that was there")

	code = execute(t.Context(), newRootCommand(), []string{"certs", "init", "--dir", dir, "--keep-existing", "--force"}, &stdout, &stderr)
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr.String(), "contradict")
}

// handshake connects to ln with clientTLS and returns the Common Name of the client
// certificate the server verified.
func handshake(t *testing.T, ln net.Listener, clientTLS *tls.Config) string {
	t.Helper()
	served := make(chan string, 1)
	go func() { served <- serveOne(ln) }()
	conn, err := tls.Dial("tcp", ln.Addr().String(), clientTLS)
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	cn := <-served
	require.False(t, strings.HasPrefix(cn, "error: "), cn)
	return cn
}

// serveOne accepts one connection on ln, completes its TLS handshake and returns the
// Common Name of the client's certificate, or "error: " and why.
func serveOne(ln net.Listener) string {
	conn, err := ln.Accept()
	if err != nil {
		return "error: " + err.Error()
	}
	defer conn.Close()
	tlsConn, ok := conn.(*tls.Conn)
	if !ok {
		return "error: not TLS"
	}
	if err := tlsConn.Handshake(); err != nil {
		return "error: " + err.Error()
	}
	peers := tlsConn.ConnectionState().PeerCertificates
	if len(peers) == 0 {
		return "error: no client certificate"
	}
	return peers[0].Subject.CommonName
}
