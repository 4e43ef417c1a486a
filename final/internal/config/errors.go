package config

import "errors"

// ErrIncomplete is returned, wrapped, by SetupTLSConfig when the TLSConfig lacks a file
// its role needs: a server needs CertFile, KeyFile and CAFile; a client that sets one of
// CertFile and KeyFile needs the other.
var ErrIncomplete = errors.New("incomplete TLS configuration")

// ErrNoCertificate is returned, wrapped, by SetupTLSConfig when the CA file can be read
// but holds no PEM-encoded certificate, for example an empty file or a key file.
var ErrNoCertificate = errors.New("no PEM certificate")
