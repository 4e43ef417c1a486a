package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSConfig names the files and the role from which SetupTLSConfig builds a *tls.Config.
// All files are PEM-encoded, as `make gencert` writes them.
type TLSConfig struct {
	// CertFile and KeyFile are this side's certificate and private key. A server needs
	// them; a client sends them to prove who it is, and may leave both empty to connect
	// without a certificate (a mutual-TLS server then refuses it).
	CertFile string
	KeyFile  string
	// CAFile holds the certificates of the CAs this side trusts: a server accepts only
	// client certificates they signed (required); a client accepts only server
	// certificates they signed (empty: the system's trusted CAs).
	CAFile string
	// ServerAddress is, for a client, the host name or IP address (no port) that the
	// server certificate must name. Empty leaves it to the caller: gRPC's
	// credentials.NewTLS fills in the host of the dialled target; crypto/tls's Dial
	// refuses to connect. Servers ignore it.
	ServerAddress string
	// Server selects the role: true builds a server configuration, false a client one.
	Server bool
}

// SetupTLSConfig builds a *tls.Config from cfg. The minimum version is TLS 1.2 for both
// roles: TLS 1.0 and 1.1 are deprecated (RFC 8996).
//
// A server configuration presents CertFile and requires every client to present a
// certificate signed by a CA in CAFile (tls.RequireAndVerifyClientCert). A client
// configuration trusts the CAs in CAFile, expects ServerAddress in the server's
// certificate and presents CertFile if it is set.
//
// It returns an error wrapping ErrIncomplete when a required path is missing from cfg,
// ErrNoCertificate when CAFile holds no certificate, the error from the file system
// (errors.Is(err, fs.ErrNotExist), …) when a file cannot be read, and crypto/tls's error
// when the certificate and key do not parse or do not belong together.
func SetupTLSConfig(cfg TLSConfig) (*tls.Config, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}

	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load certificate %s and key %s: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}

	var pool *x509.CertPool // nil: the system's CAs (clients only; check rules it out for servers)
	if cfg.CAFile != "" {
		var err error
		if pool, err = loadCAs(cfg.CAFile); err != nil {
			return nil, err
		}
	}

	if cfg.Server {
		tlsConfig.ClientCAs = pool
		tlsConfig.ClientAuth = tls.RequireAndVerifyClientCert
	} else {
		tlsConfig.RootCAs = pool
		tlsConfig.ServerName = cfg.ServerAddress
	}
	return tlsConfig, nil
}

// check returns an error wrapping ErrIncomplete when cfg lacks a path its role needs.
func (cfg TLSConfig) check() error {
	if cfg.Server && (cfg.CertFile == "" || cfg.KeyFile == "" || cfg.CAFile == "") {
		return fmt.Errorf("%w: a server needs CertFile, KeyFile and CAFile", ErrIncomplete)
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return fmt.Errorf("%w: CertFile and KeyFile go together (CertFile %q, KeyFile %q)",
			ErrIncomplete, cfg.CertFile, cfg.KeyFile)
	}
	return nil
}

// loadCAs reads the PEM certificates in file into a new pool.
func loadCAs(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("CA file %s: %w", file, ErrNoCertificate)
	}
	return pool, nil
}
