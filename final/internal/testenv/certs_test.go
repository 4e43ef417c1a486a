package testenv_test

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/testenv"
)

// TestCerts checks that each certificate from Certs is what its field promises, by the
// same rules crypto/tls applies in a handshake (x509.Certificate.Verify).
func TestCerts(t *testing.T) {
	files := testenv.Certs(t)

	ca := readCert(t, files.CAFile)
	require.True(t, ca.IsCA, "CA certificate is a CA")
	require.Equal(t, "golog CA", ca.Subject.CommonName)
	otherCA := readCert(t, files.OtherCAFile)
	require.Equal(t, ca.Subject.String(), otherCA.Subject.String(), "the other CA copies the real CA's name")

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(otherCA)

	server := readCert(t, files.ServerCertFile)
	require.Equal(t, "server", server.Subject.CommonName)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		_, err := server.Verify(x509.VerifyOptions{
			DNSName:   name,
			Roots:     roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		require.NoError(t, err, "server certificate for %s", name)
	}
	require.Equal(t, []net.IP{net.ParseIP("127.0.0.1").To4(), net.ParseIP("::1")}, server.IPAddresses)
	require.Equal(t, []string{"localhost"}, server.DNSNames)
	_, err := server.Verify(x509.VerifyOptions{
		Roots:     roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	require.NoError(t, err, "the server certificate also serves as a client certificate (Raft peers dial each other)")

	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		name     string
		certFile string
		keyFile  string
		wantCN   string
		issuer   *x509.CertPool                // the CA that signed it
		wantErr  func(t *testing.T, err error) // nil: the real CA accepts it now
	}{
		{
			name:     "root client",
			certFile: files.RootClientCertFile,
			keyFile:  files.RootClientKeyFile,
			wantCN:   "root",
			issuer:   roots,
		},
		{
			name:     "nobody client",
			certFile: files.NobodyClientCertFile,
			keyFile:  files.NobodyClientKeyFile,
			wantCN:   "nobody",
			issuer:   roots,
		},
		{
			name:     "other-CA client",
			certFile: files.OtherCAClientCertFile,
			keyFile:  files.OtherCAClientKeyFile,
			wantCN:   "root",
			issuer:   otherRoots,
			wantErr: func(t *testing.T, err error) {
				var unknown x509.UnknownAuthorityError
				require.ErrorAs(t, err, &unknown)
			},
		},
		{
			name:     "expired client",
			certFile: files.ExpiredClientCertFile,
			keyFile:  files.ExpiredClientKeyFile,
			wantCN:   "root",
			issuer:   roots,
			wantErr: func(t *testing.T, err error) {
				var invalid x509.CertificateInvalidError
				require.ErrorAs(t, err, &invalid)
				require.Equal(t, x509.Expired, invalid.Reason)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := readCert(t, tt.certFile)
			require.Equal(t, tt.wantCN, cert.Subject.CommonName)

			midlife := cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) / 2)
			_, err := cert.Verify(x509.VerifyOptions{Roots: tt.issuer, CurrentTime: midlife, KeyUsages: clientAuth})
			require.NoError(t, err, "signed by its own CA, for client auth, valid at %v", midlife)

			_, err = cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: clientAuth})
			if tt.wantErr == nil {
				require.NoError(t, err, "accepted by the real CA now")
			} else {
				require.Error(t, err, "rejected by the real CA now")
				tt.wantErr(t, err)
			}

			serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			_, err = cert.Verify(x509.VerifyOptions{Roots: tt.issuer, CurrentTime: midlife, KeyUsages: serverAuth})
			require.Error(t, err, "a client certificate is not a server certificate")

			info, err := os.Stat(tt.keyFile)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "key file mode")
		})
	}
}

// TestCertsSameEveryTest checks that Certs generates once per test binary: two calls
// give fresh files holding the same certificates.
func TestCertsSameEveryTest(t *testing.T) {
	first := testenv.Certs(t)
	second := testenv.Certs(t)
	require.NotEqual(t, first.CAFile, second.CAFile)
	require.Equal(t, readCert(t, first.CAFile).Raw, readCert(t, second.CAFile).Raw)
}

func TestACL(t *testing.T) {
	model, policy := testenv.ACL(t)
	for _, f := range []string{model, policy} {
		info, err := os.Stat(f)
		require.NoError(t, err)
		require.True(t, info.Mode().IsRegular(), "%s is a file", f)
	}
}

// readCert parses the one PEM certificate in file.
func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	block, rest := pem.Decode(data)
	require.NotNil(t, block, "PEM block in %s", file)
	require.Equal(t, "CERTIFICATE", block.Type)
	require.Empty(t, rest, "nothing after the certificate in %s", file)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}
