package auth

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Subject returns who made the RPC whose server-side context is ctx: the Common Name of
// the client certificate that the TLS handshake verified against the server's CAs.
//
// It returns a gRPC status error with code Unauthenticated when ctx carries no peer
// (not an RPC context), the connection is not TLS, the client sent no certificate or
// one the handshake did not verify, or the certificate has an empty Common Name. It
// never panics, whatever the server's transport credentials are.
func Subject(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "no peer in the context")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "the connection is not TLS")
	}
	// VerifiedChains[i][0] is the client's own certificate, followed by its issuers up
	// to a trusted CA. The chains are empty unless the handshake verified them.
	chains := info.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return "", status.Error(codes.Unauthenticated, "no verified client certificate")
	}
	cn := chains[0][0].Subject.CommonName
	if cn == "" {
		return "", status.Error(codes.Unauthenticated, "the client certificate has no common name")
	}
	return cn, nil
}
