// Package certs makes the certificates of a golog cluster in-process with the CFSSL
// packages: a certificate authority (CA), the servers' certificate and client
// certificates. It does what `make gencert` does with the cfssl and cfssljson commands,
// from the same CFSSL configurations (golog.CertConfigs, the module's certs/*.json), but
// needs neither command:
//
//	cfssl gencert -initca ca-csr.json                                      → ca
//	cfssl gencert -ca ca.pem … -profile=server server-csr.json            → server
//	cfssl gencert -ca ca.pem … -profile=client -cn=root client-csr.json   → root-client
//	cfssl gencert -ca ca.pem … -profile=client -cn=nobody client-csr.json → nobody-client
//
// Each piece is written as cfssljson -bare writes it: NAME.pem (the certificate),
// NAME-key.pem (its private key, readable by the owner only) and NAME.csr (the request).
//
// The server certificate has the Common Name "server", which is what the servers accept
// from each other on the Raft port, and is valid for both server and client
// authentication, as a server both accepts and dials Raft connections. The client
// certificates' Common Names are the subjects of the access control list: root may
// produce and consume, nobody may do nothing.
package certs

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"
	"github.com/cloudflare/cfssl/initca"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"

	"golog"
)

// Base names of the certificates Generate makes; NAME.pem, NAME-key.pem and NAME.csr
// are their files.
const (
	CA           = "ca"
	Server       = "server"
	RootClient   = "root-client"
	NobodyClient = "nobody-client"
)

// Files of the certificates Generate makes that servers and clients load.
const (
	CAFile              = CA + ".pem"
	CAKeyFile           = CA + "-key.pem"
	ServerFile          = Server + ".pem"
	ServerKeyFile       = Server + "-key.pem"
	RootClientFile      = RootClient + ".pem"
	RootClientKeyFile   = RootClient + "-key.pem"
	NobodyClientFile    = NobodyClient + ".pem"
	NobodyClientKeyFile = NobodyClient + "-key.pem"
)

// ServerCommonName is the Common Name of the server certificate: the identity the
// servers accept from each other on the Raft port.
const ServerCommonName = "server"

// A Profile is a kind of certificate: the CFSSL request it starts from and the signing
// profile of ca-config.json it is signed with.
type Profile string

// The profiles of ca-config.json.
const (
	// ServerProfile is server-csr.json signed for server and client authentication.
	ServerProfile Profile = "server"
	// ClientProfile is client-csr.json signed for client authentication.
	ClientProfile Profile = "client"
)

// csrFile returns the file of golog.CertConfigs that requests a certificate of profile p.
func (p Profile) csrFile() string { return "certs/" + string(p) + "-csr.json" }

// A Bundle is a certificate with its private key and its certificate request, all
// PEM-encoded, under the base name of their files.
type Bundle struct {
	Name string // base name of the files, such as "server"
	Cert []byte // NAME.pem
	Key  []byte // NAME-key.pem
	CSR  []byte // NAME.csr
}

// Files returns the bundle's files by file name, as cfssljson -bare NAME writes them.
// The slices are the bundle's own.
func (b Bundle) Files() map[string][]byte {
	return map[string][]byte{
		b.Name + ".pem":     b.Cert,
		b.Name + "-key.pem": b.Key,
		b.Name + ".csr":     b.CSR,
	}
}

// A Request asks an Authority for a certificate.
type Request struct {
	// Name is the base name of the bundle's files. Required.
	Name string
	// Profile is the kind of certificate. Required.
	Profile Profile
	// CN replaces the request's Common Name, like cfssl gencert -cn; empty keeps the
	// one in the profile's CSR file.
	CN string
	// Hosts are DNS names and IP addresses the certificate is also valid for, beyond
	// those in the profile's CSR file.
	Hosts []string
	// NotBefore and NotAfter, if set, are the certificate's validity, used unchanged.
	// Zero leaves it to the signing profile, as the cfssl command does: from 5 minutes
	// ago (CFSSL backdates against clock skew) for the profile's expiry.
	NotBefore, NotAfter time.Time
}

// An Authority is a CA that signs certificates with the profiles of ca-config.json. It
// is safe for concurrent use.
type Authority struct {
	bundle Bundle
	signer *local.Signer
}

// NewAuthority creates a new CA: a key and a self-signed certificate from ca-csr.json,
// like `cfssl gencert -initca ca-csr.json`, and a signer with the profiles of
// ca-config.json. Each call makes a CA with a new key.
func NewAuthority() (*Authority, error) {
	quietCFSSL()
	req, err := readCSR("certs/ca-csr.json")
	if err != nil {
		return nil, err
	}
	certPEM, csrPEM, keyPEM, err := initca.New(req)
	if err != nil {
		return nil, fmt.Errorf("certs: CA: %w", err)
	}
	cert, err := helpers.ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: parse CA certificate: %w", err)
	}
	key, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: parse CA key: %w", err)
	}
	policy, err := fs.ReadFile(golog.CertConfigs, "certs/ca-config.json")
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	cfg, err := config.LoadConfig(policy)
	if err != nil {
		return nil, fmt.Errorf("certs: ca-config.json: %w", err)
	}
	s, err := local.NewSigner(key, cert, signer.DefaultSigAlgo(key), cfg.Signing)
	if err != nil {
		return nil, fmt.Errorf("certs: CA signer: %w", err)
	}
	return &Authority{
		bundle: Bundle{Name: CA, Cert: certPEM, Key: keyPEM, CSR: csrPEM},
		signer: s,
	}, nil
}

// Bundle returns the CA's own certificate, key and request, under the name "ca". The
// slices are shared: do not modify them.
func (a *Authority) Bundle() Bundle { return a.bundle }

// Issue makes a new key and a certificate for it, signed by the CA, like
// `cfssl gencert -ca ca.pem -ca-key ca-key.pem -config ca-config.json -profile=P -cn=CN
// P-csr.json`.
func (a *Authority) Issue(r Request) (Bundle, error) {
	if r.Name == "" {
		return Bundle{}, fmt.Errorf("certs: a request needs a name")
	}
	req, err := readCSR(r.Profile.csrFile())
	if err != nil {
		return Bundle{}, err
	}
	if r.CN != "" {
		req.CN = r.CN
	}
	req.Hosts = append(req.Hosts, r.Hosts...)
	// The cfssl command accepts any request here (its validator is a no-op); so do we.
	g := &csr.Generator{Validator: func(*csr.CertificateRequest) error { return nil }}
	csrPEM, keyPEM, err := g.ProcessRequest(req)
	if err != nil {
		return Bundle{}, fmt.Errorf("certs: %s: key and request: %w", r.Name, err)
	}
	certPEM, err := a.signer.Sign(signer.SignRequest{
		Request:   string(csrPEM),
		Profile:   string(r.Profile),
		NotBefore: r.NotBefore,
		NotAfter:  r.NotAfter,
	})
	if err != nil {
		return Bundle{}, fmt.Errorf("certs: %s: sign with profile %q: %w", r.Name, r.Profile, err)
	}
	return Bundle{Name: r.Name, Cert: certPEM, Key: keyPEM, CSR: csrPEM}, nil
}

// Generate makes what `make gencert` makes: a new CA and the certificates it signs (see
// Authority.Generate).
func Generate(extraHosts ...string) ([]Bundle, error) {
	ca, err := NewAuthority()
	if err != nil {
		return nil, err
	}
	return ca.Generate(extraHosts...)
}

// Generate returns the CA's own bundle followed by what it signs for `make gencert`:
// the server certificate (CN "server", valid for localhost, 127.0.0.1 and ::1, and for
// extraHosts too) and the client certificates of root and nobody, in that order.
func (a *Authority) Generate(extraHosts ...string) ([]Bundle, error) {
	bundles := []Bundle{a.Bundle()}
	for _, r := range []Request{
		{Name: Server, Profile: ServerProfile, Hosts: extraHosts},
		{Name: RootClient, Profile: ClientProfile, CN: "root"},
		{Name: NobodyClient, Profile: ClientProfile, CN: "nobody"},
	} {
		b, err := a.Issue(r)
		if err != nil {
			return nil, err
		}
		bundles = append(bundles, b)
	}
	return bundles, nil
}

// readCSR reads a CFSSL request from golog.CertConfigs the way the cfssl command reads
// a request file: the key request defaults to ECDSA P-256 when the file has no "key".
func readCSR(file string) (*csr.CertificateRequest, error) {
	data, err := fs.ReadFile(golog.CertConfigs, file)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	req := &csr.CertificateRequest{KeyRequest: csr.NewKeyRequest()}
	if err := json.Unmarshal(data, req); err != nil {
		return nil, fmt.Errorf("certs: parse %s: %w", file, err)
	}
	return req, nil
}

// quietCFSSL turns CFSSL's logging down to errors, once: it logs every step at Info
// level to stderr. The level is a global of the cfssl/log package.
var quietCFSSL = sync.OnceFunc(func() { cflog.Level = cflog.LevelError })
