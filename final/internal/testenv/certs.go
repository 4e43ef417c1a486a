package testenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"
	"github.com/cloudflare/cfssl/initca"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"
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
// They are made in-process with the CFSSL packages from the JSON files in the module's
// certs/ directory, the same files `make gencert` gives to the cfssl command, so tests
// need neither the cfssl command nor a step before `go test`. Certs fails the test if
// the files cannot be read or the certificates cannot be made. It is safe to call from
// parallel tests.
func Certs(tb testing.TB) CertFiles {
	tb.Helper()
	pems, err := generatedPEMs()
	if err != nil {
		tb.Fatalf("testenv: generate certificates: %v", err)
	}
	dir := TempDir(tb)
	for name, data := range pems {
		perm := os.FileMode(0o644) // certificates are public
		if strings.HasSuffix(name, "-key.pem") {
			perm = 0o600 // keys are not: owner only, as cfssljson writes them
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, perm); err != nil {
			tb.Fatalf("testenv: write %s: %v", name, err)
		}
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

// generatedPEMs returns the PEM files Certs writes, by file name. They are made on the
// first call; later calls return the same map (or the same error). Callers must not
// modify the map or the slices in it.
var generatedPEMs = sync.OnceValues(generatePEMs)

// generatePEMs does in-process what `make gencert` does with the cfssl command, and a
// little more for the failure cases:
//
//	cfssl gencert -initca ca-csr.json                                        → ca
//	cfssl gencert -ca ca.pem … -profile=server server-csr.json              → server
//	cfssl gencert -ca ca.pem … -profile=client -cn=root client-csr.json     → root-client
//	cfssl gencert -ca ca.pem … -profile=client -cn=nobody client-csr.json   → nobody-client
//	a second -initca from ca-csr.json, and a root client signed by it       → other-ca, other-ca-client
//	a root client from the real CA, valid from 4 until 2 minutes ago         → expired-client
//
// The expired client's validity lies inside the CA's own (CFSSL backdates a certificate
// by 5 minutes unless told otherwise), so time is the only thing wrong with it.
func generatePEMs() (map[string][]byte, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	confDir := filepath.Join(root, "certs")

	// CFSSL logs every step at Info level to stderr; only real problems are of interest.
	cflog.Level = cflog.LevelError

	ca, err := newAuthority(confDir)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	otherCA, err := newAuthority(confDir)
	if err != nil {
		return nil, fmt.Errorf("other CA: %w", err)
	}

	now := time.Now()
	leaves := []struct {
		name      string
		issuer    *authority
		csrFile   string
		profile   string
		cn        string    // overrides the CSR's CN like -cn; empty keeps it
		notBefore time.Time // zero: the profile decides, as with the cfssl command
		notAfter  time.Time
	}{
		{name: "server", issuer: ca, csrFile: "server-csr.json", profile: "server"},
		{name: "root-client", issuer: ca, csrFile: "client-csr.json", profile: "client", cn: "root"},
		{name: "nobody-client", issuer: ca, csrFile: "client-csr.json", profile: "client", cn: "nobody"},
		{name: "other-ca-client", issuer: otherCA, csrFile: "client-csr.json", profile: "client", cn: "root"},
		{
			name: "expired-client", issuer: ca, csrFile: "client-csr.json", profile: "client", cn: "root",
			notBefore: now.Add(-4 * time.Minute), notAfter: now.Add(-2 * time.Minute),
		},
	}

	pems := map[string][]byte{
		"ca.pem":       ca.certPEM,
		"other-ca.pem": otherCA.certPEM,
	}
	for _, l := range leaves {
		certPEM, keyPEM, err := l.issuer.issue(filepath.Join(confDir, l.csrFile), l.profile, l.cn, l.notBefore, l.notAfter)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		pems[l.name+".pem"] = certPEM
		pems[l.name+"-key.pem"] = keyPEM
	}
	return pems, nil
}

// authority is a CA that can sign: its certificate and a CFSSL signer holding its key and
// the signing policy from ca-config.json.
type authority struct {
	certPEM []byte
	signer  *local.Signer
}

// newAuthority creates a new CA key and self-signed certificate from ca-csr.json, like
// `cfssl gencert -initca ca-csr.json`, and a signer for it with the profiles of
// ca-config.json, like `cfssl gencert -ca ca.pem -ca-key ca-key.pem -config ca-config.json`.
func newAuthority(confDir string) (*authority, error) {
	req, err := readCSR(filepath.Join(confDir, "ca-csr.json"))
	if err != nil {
		return nil, err
	}
	certPEM, _, keyPEM, err := initca.New(req)
	if err != nil {
		return nil, fmt.Errorf("initca: %w", err)
	}
	cert, err := helpers.ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse CA key: %w", err)
	}
	policyFile := filepath.Join(confDir, "ca-config.json")
	cfg, err := config.LoadFile(policyFile)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", policyFile, err)
	}
	s, err := local.NewSigner(key, cert, signer.DefaultSigAlgo(key), cfg.Signing)
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	return &authority{certPEM: certPEM, signer: s}, nil
}

// issue makes a new key and a certificate for it signed with the given profile, like
// `cfssl gencert -ca … -profile=profile -cn=cn csrFile`. Zero notBefore and notAfter
// leave the validity to the profile; set, they are used unchanged.
func (a *authority) issue(csrFile, profile, cn string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	req, err := readCSR(csrFile)
	if err != nil {
		return nil, nil, err
	}
	if cn != "" {
		req.CN = cn
	}
	// The cfssl command accepts any request here (its validator is a no-op); so do we.
	g := &csr.Generator{Validator: func(*csr.CertificateRequest) error { return nil }}
	csrPEM, keyPEM, err := g.ProcessRequest(req)
	if err != nil {
		return nil, nil, fmt.Errorf("key and CSR: %w", err)
	}
	certPEM, err = a.signer.Sign(signer.SignRequest{
		Request:   string(csrPEM),
		Profile:   profile,
		NotBefore: notBefore,
		NotAfter:  notAfter,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sign with profile %q: %w", profile, err)
	}
	return certPEM, keyPEM, nil
}

// readCSR reads a CFSSL CSR JSON file the way the cfssl command does: the key request
// defaults to ECDSA P-256 when the file has no "key".
func readCSR(file string) (*csr.CertificateRequest, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	req := &csr.CertificateRequest{KeyRequest: csr.NewKeyRequest()}
	if err := json.Unmarshal(data, req); err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	return req, nil
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
