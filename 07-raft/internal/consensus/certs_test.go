package consensus_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// testCerts are the identities of the TLS tests, from testenv.Certs: a CA, the server
// certificate (CN "server", valid for 127.0.0.1 and localhost, usable for server and
// client auth, as every server of a cluster uses it both ways) and the client
// certificates of "root" and "nobody".
type testCerts struct {
	pool   *x509.CertPool
	server tls.Certificate
	root   tls.Certificate
	nobody tls.Certificate
}

// certs returns the test identities, failing the test if they cannot be loaded.
func certs(t testing.TB) *testCerts {
	t.Helper()
	files := testenv.Certs(t)
	ca, err := os.ReadFile(files.CAFile)
	require.NoError(t, err)
	c := &testCerts{pool: x509.NewCertPool()}
	require.True(t, c.pool.AppendCertsFromPEM(ca), "no certificate in %s", files.CAFile)
	for _, id := range []struct {
		cert          *tls.Certificate
		certFile, key string
	}{
		{&c.server, files.ServerCertFile, files.ServerKeyFile},
		{&c.root, files.RootClientCertFile, files.RootClientKeyFile},
		{&c.nobody, files.NobodyClientCertFile, files.NobodyClientKeyFile},
	} {
		*id.cert, err = tls.LoadX509KeyPair(id.certFile, id.key)
		require.NoError(t, err)
	}
	return c
}

// serverTLS is the configuration a server accepts Raft connections with: its own
// certificate, and client certificates required and verified against the CA.
func (c *testCerts) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{c.server},
		ClientCAs:    c.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// peerTLS is the configuration a server dials other servers with, presenting cert.
func (c *testCerts) peerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      c.pool,
	}
}
