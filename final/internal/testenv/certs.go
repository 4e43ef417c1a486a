package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golog/internal/certs"
)

// CertFiles are the paths of PEM files for mutual-TLS tests. Every certificate except
// the two "Other CA" ones is signed by the CA in CAFile.
type CertFiles struct {
	// CAFile is the certificate of the CA that servers and clients trust.
	CAFile string

	// ServerCertFile and ServerKeyFile are the server's identity: CN "server", valid for
	// localhost, 127.0.0.1 and ::1, usable for server and client auth.
	ServerCertFile string
	ServerKeyFile  string

	// RootClientCertFile and RootClientKeyFile are a client with CN "root", whom the
	// ACL allows to produce and consume.
	RootClientCertFile string
	RootClientKeyFile  string

	// NobodyClientCertFile and NobodyClientKeyFile are a client with CN "nobody", a
	// valid certificate whom the ACL allows nothing.
	NobodyClientCertFile string
	NobodyClientKeyFile  string

	// OtherCAFile is the certificate of a second CA, made from the same ca-csr.json and
	// so with the same name as the real one, but with its own key.
	OtherCAFile string

	// OtherCAClientCertFile and OtherCAClientKeyFile are a client with CN "root" signed
	// by the other CA: the name is right, the signature is not.
	OtherCAClientCertFile string
	OtherCAClientKeyFile  string

	// ExpiredClientCertFile and ExpiredClientKeyFile are a client with CN "root" signed
	// by the real CA whose validity ended two minutes before the certificates were made.
	ExpiredClientCertFile string
	ExpiredClientKeyFile  string
}

// Certs writes a set of certificates and keys into a fresh directory and returns their
// paths. The directory follows TempDir's rules: removed when the test ends, kept and
// logged with -debug.
//
// The certificates are generated once per test binary and kept in memory; every call
// writes the same ones to new files. So nothing outlives the test that asked for it,
// and no test can spoil another's files.
//
// They are made in-process by package certs, with the CFSSL packages from the JSON
// files in the module's certs/ directory, the same files `make gencert` gives to the
// cfssl command, so tests need neither the cfssl command nor a step before `go test`.
// Certs fails the test if the certificates cannot be made. It is safe to call from
// parallel tests.
func Certs(tb testing.TB) CertFiles {
	tb.Helper()
	bundles, err := generatedBundles()
	if err != nil {
		tb.Fatalf("testenv: generate certificates: %v", err)
	}
	dir := TempDir(tb)
	if _, err := certs.Write(dir, bundles, false); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	return CertFiles{
		CAFile:                path("ca.pem"),
		ServerCertFile:        path("server.pem"),
		ServerKeyFile:         path("server-key.pem"),
		RootClientCertFile:    path("root-client.pem"),
		RootClientKeyFile:     path("root-client-key.pem"),
		NobodyClientCertFile:  path("nobody-client.pem"),
		NobodyClientKeyFile:   path("nobody-client-key.pem"),
		OtherCAFile:           path("other-ca.pem"),
		OtherCAClientCertFile: path("other-ca-client.pem"),
		OtherCAClientKeyFile:  path("other-ca-client-key.pem"),
		ExpiredClientCertFile: path("expired-client.pem"),
		ExpiredClientKeyFile:  path("expired-client-key.pem"),
	}
}

// ACL returns the paths of the casbin model and policy shipped in the module's acl/
// directory. It fails the test if either file is missing.
func ACL(tb testing.TB) (model, policy string) {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	model = filepath.Join(root, "acl", "model.conf")
	policy = filepath.Join(root, "acl", "policy.csv")
	for _, f := range []string{model, policy} {
		if _, err := os.Stat(f); err != nil {
			tb.Fatalf("testenv: ACL file: %v", err)
		}
	}
	return model, policy
}

// generatedBundles returns the certificates Certs writes. They are made on the first
// call; later calls return the same ones (or the same error). Callers must not modify
// them.
var generatedBundles = sync.OnceValues(generateBundles)

// generateBundles makes what `make gencert` makes (certs.Authority.Generate), and a
// little more for the failure cases:
//
//	a second CA from ca-csr.json, and a root client signed by it      → other-ca, other-ca-client
//	a root client from the real CA, valid from 4 until 2 minutes ago   → expired-client
//
// The expired client's validity lies inside the CA's own (CFSSL backdates a certificate
// by 5 minutes unless told otherwise), so time is the only thing wrong with it.
func generateBundles() ([]certs.Bundle, error) {
	ca, err := certs.NewAuthority()
	if err != nil {
		return nil, err
	}
	otherCA, err := certs.NewAuthority()
	if err != nil {
		return nil, fmt.Errorf("other CA: %w", err)
	}
	bundles, err := ca.Generate()
	if err != nil {
		return nil, err
	}
	other := otherCA.Bundle()
	other.Name = "other-ca"
	bundles = append(bundles, other)
	now := time.Now()
	for _, leaf := range []struct {
		issuer *certs.Authority
		req    certs.Request
	}{
		{otherCA, certs.Request{Name: "other-ca-client", Profile: certs.ClientProfile, CN: "root"}},
		{ca, certs.Request{
			Name: "expired-client", Profile: certs.ClientProfile, CN: "root",
			NotBefore: now.Add(-4 * time.Minute), NotAfter: now.Add(-2 * time.Minute),
		}},
	} {
		b, err := leaf.issuer.Issue(leaf.req)
		if err != nil {
			return nil, err
		}
		bundles = append(bundles, b)
	}
	return bundles, nil
}

// moduleRoot returns the directory holding go.mod, found by walking up from the working
// directory. `go test` runs each package's tests in that package's directory, so this
// finds the stage root from any package in it.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above it")
		}
		dir = parent
	}
}
