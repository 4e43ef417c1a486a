package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/certs"
	"golog/internal/testenv"
)

// TestGenerate checks each certificate Generate makes by the rules crypto/tls applies in
// a handshake (x509.Certificate.Verify): who signed it, for what, and for which hosts.
func TestGenerate(t *testing.T) {
	bundles, err := certs.Generate("golog.internal", "10.0.0.5")
	require.NoError(t, err)
	names := make([]string, len(bundles))
	for i, b := range bundles {
		names[i] = b.Name
	}
	require.Equal(t, []string{"ca", "server", "root-client", "nobody-client"}, names)

	ca := parseCert(t, bundles[0].Cert)
	require.True(t, ca.IsCA)
	require.Equal(t, "golog CA", ca.Subject.CommonName)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}

	server := parseCert(t, bundles[1].Cert)
	require.Equal(t, certs.ServerCommonName, server.Subject.CommonName)
	require.Equal(t, []string{"localhost", "golog.internal"}, server.DNSNames)
	require.Equal(t, []net.IP{net.ParseIP("127.0.0.1").To4(), net.ParseIP("::1"), net.ParseIP("10.0.0.5").To4()},
		server.IPAddresses)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "golog.internal", "10.0.0.5"} {
		_, err := server.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: serverAuth})
		require.NoError(t, err, "server certificate for %s", host)
	}
	_, err = server.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots, KeyUsages: serverAuth})
	require.Error(t, err, "the server certificate is valid for its hosts only")
	_, err = server.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: clientAuth})
	require.NoError(t, err, "servers dial each other with the server certificate")

	for i, cn := range map[int]string{2: "root", 3: "nobody"} {
		client := parseCert(t, bundles[i].Cert)
		require.Equal(t, cn, client.Subject.CommonName)
		_, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: clientAuth})
		require.NoError(t, err, "%s for client auth", cn)
		_, err = client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: serverAuth})
		require.Error(t, err, "%s is no server", cn)
	}

	for _, b := range bundles {
		_, err := tls.X509KeyPair(b.Cert, b.Key)
		require.NoError(t, err, "%s: the key belongs to the certificate", b.Name)
		block, _ := pem.Decode(b.CSR)
		require.NotNil(t, block, "%s: request", b.Name)
		require.Equal(t, "CERTIFICATE REQUEST", block.Type, "%s: request", b.Name)
	}
}

// TestGenerateNewCA checks that every Generate makes a CA of its own.
func TestGenerateNewCA(t *testing.T) {
	first, err := certs.Generate()
	require.NoError(t, err)
	second, err := certs.Generate()
	require.NoError(t, err)
	require.NotEqual(t, first[0].Key, second[0].Key)

	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(parseCert(t, second[0].Cert))
	_, err = parseCert(t, first[1].Cert).Verify(x509.VerifyOptions{
		Roots: otherRoots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
}

// TestIssueValidity checks that a request's validity is used unchanged, and that the
// profile decides without one.
func TestIssueValidity(t *testing.T) {
	ca, err := certs.NewAuthority()
	require.NoError(t, err)
	notBefore := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	notAfter := notBefore.Add(30 * time.Minute)
	b, err := ca.Issue(certs.Request{
		Name: "old", Profile: certs.ClientProfile, CN: "root", NotBefore: notBefore, NotAfter: notAfter,
	})
	require.NoError(t, err)
	cert := parseCert(t, b.Cert)
	require.Equal(t, notBefore, cert.NotBefore)
	require.Equal(t, notAfter, cert.NotAfter)

	b, err = ca.Issue(certs.Request{Name: "new", Profile: certs.ClientProfile})
	require.NoError(t, err)
	cert = parseCert(t, b.Cert)
	require.Equal(t, "client", cert.Subject.CommonName, "the CN of client-csr.json")
	require.Equal(t, 8760*time.Hour, cert.NotAfter.Sub(cert.NotBefore), "the client profile's expiry in ca-config.json")
	require.True(t, cert.NotBefore.Before(time.Now()), "valid from now on: %v", cert.NotBefore)

	_, err = ca.Issue(certs.Request{Profile: certs.ClientProfile})
	require.ErrorContains(t, err, "name")
}

// TestWrite checks the files Write writes, that it never replaces one unless told to,
// and that a replaced key is private whatever the file it replaces was.
func TestWrite(t *testing.T) {
	bundles, err := certs.Generate()
	require.NoError(t, err)
	dir := filepath.Join(testenv.TempDir(t), "certs")

	paths, err := certs.Write(dir, bundles, false)
	require.NoError(t, err)
	// The names `make gencert` (cfssljson -bare) writes.
	want := []string{
		"ca-key.pem", "ca.csr", "ca.pem",
		"nobody-client-key.pem", "nobody-client.csr", "nobody-client.pem",
		"root-client-key.pem", "root-client.csr", "root-client.pem",
		"server-key.pem", "server.csr", "server.pem",
	}
	var got []string
	for _, p := range paths {
		require.Equal(t, dir, filepath.Dir(p))
		got = append(got, filepath.Base(p))
	}
	require.Equal(t, want, got)
	for _, name := range []string{certs.CAFile, certs.CAKeyFile, certs.ServerFile, certs.ServerKeyFile,
		certs.RootClientFile, certs.RootClientKeyFile, certs.NobodyClientFile, certs.NobodyClientKeyFile} {
		require.Contains(t, want, name)
	}
	requireMode(t, dir, fs.ModeDir|0o700)
	for _, name := range want {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "-key.pem") {
			mode = 0o600
		}
		requireMode(t, filepath.Join(dir, name), mode)
	}
	data, err := os.ReadFile(filepath.Join(dir, certs.ServerFile))
	require.NoError(t, err)
	require.Equal(t, bundles[1].Cert, data)

	again, err := certs.Generate()
	require.NoError(t, err)
	keyFile := filepath.Join(dir, certs.ServerKeyFile)
	require.NoError(t, os.Remove(filepath.Join(dir, certs.CAFile)))
	_, err = certs.Write(dir, again, false)
	require.ErrorIs(t, err, fs.ErrExist)
	require.ErrorContains(t, err, certs.ServerKeyFile)
	require.NotContains(t, err.Error(), certs.CAFile+",", "only the files that exist are named")
	_, statErr := os.Stat(filepath.Join(dir, certs.CAFile))
	require.ErrorIs(t, statErr, fs.ErrNotExist, "nothing is written when a file exists")
	data, err = os.ReadFile(keyFile)
	require.NoError(t, err)
	require.Equal(t, bundles[1].Key, data, "the old key is left alone")

	require.NoError(t, os.Chmod(keyFile, 0o644))
	_, err = certs.Write(dir, again, true)
	require.NoError(t, err)
	data, err = os.ReadFile(keyFile)
	require.NoError(t, err)
	require.Equal(t, again[1].Key, data, "overwritten")
	requireMode(t, keyFile, 0o600)
}

func requireMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, want, info.Mode(), "mode of %s", path)
}

// parseCert parses the one PEM certificate in data.
func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(data)
	require.NotNil(t, block)
	require.Equal(t, "CERTIFICATE", block.Type)
	require.Empty(t, rest)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}
