package auth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"golog/internal/auth"
)

// verifiedPeer returns an RPC context whose peer presented a verified certificate with
// common name cn and the given URIs.
func verifiedPeer(cn string, uris ...string) context.Context {
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			panic(err)
		}
		cert.URIs = append(cert.URIs, parsed)
	}
	state := tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
}

func TestExercise3_URIIdentity(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"a golog URI wins over the CN", verifiedPeer("legacy", "spiffe://golog/reader"), "reader"},
		{"the first golog URI", verifiedPeer("legacy", "https://example.com/x", "spiffe://golog/root", "spiffe://golog/b"), "root"},
		{"no URI: the CN", verifiedPeer("root"), "root"},
		{"another trust domain: the CN", verifiedPeer("nobody", "spiffe://other/root"), "nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.Subject(tt.ctx)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
