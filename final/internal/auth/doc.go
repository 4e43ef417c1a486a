// Package auth answers two questions about every RPC: who is calling (authentication),
// and may they do what they ask (authorization).
//
// # Who is calling
//
// The server's TLS configuration requires a client certificate and verifies it against
// the CA the server trusts. A verified certificate is proof of identity: only the holder
// of the private key could complete the handshake, and only the CA could have signed
// the certificate. Subject reads that identity, the certificate's Common Name (CN),
// from the connection gRPC records in the RPC's context:
//
//	client ──TLS handshake──► server verifies the chain: client cert → CA
//	                                      │
//	ctx ─ peer.FromContext ─ credentials.TLSInfo ─ State.VerifiedChains[0][0].Subject.CommonName
//	                                                                 = "root"
//
// Subject looks only at verified chains. The certificates a client merely presented
// (State.PeerCertificates) prove nothing when the server was configured to request
// certificates without verifying them.
//
// # What they may do
//
// An Authorizer holds an access control list as a casbin model and policy, loaded from
// two files. The model says how a request is matched; the policy lists what is allowed:
//
//	model.conf   r = sub, obj, act                    a request: who, on what, doing what
//	             m = r.sub == p.sub && (p.obj == "*" || r.obj == p.obj) && r.act == p.act
//	policy.csv   p, root, *, produce                  one line per permission
//	             p, root, *, consume
//
// Whatever no policy line allows is denied, so a subject with no lines (such as
// "nobody") may do nothing, and so may an unknown subject or an unknown action. A denial
// is a gRPC status with code PermissionDenied; a missing identity is Unauthenticated.
package auth
