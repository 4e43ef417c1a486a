package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/credentials"
)

// firstReadTimeout bounds how long a new connection waits for the server's first bytes
// (see handshakeCreds).
const firstReadTimeout = 5 * time.Second

// handshakeCreds are TLS credentials that report a client certificate the server refuses
// as a failed handshake.
//
// With TLS 1.3 the client finishes its side of the handshake before the server has
// checked the client's certificate. A server that refuses it (none was sent, an unknown
// CA, expired) answers with an alert and closes the connection; meanwhile gRPC, which
// takes the handshake for done, writes to the connection, and what it reports is
// whichever comes first: the alert ("tls: certificate required") or the closed
// connection ("broken pipe"), which tells nobody anything. So the handshake here waits
// for the server's first bytes, which a gRPC server sends at once (its HTTP/2
// settings): the alert, if there is one, fails the handshake with the server's reason,
// and otherwise the bytes are handed to gRPC as if they had not been read.
type handshakeCreds struct {
	credentials.TransportCredentials
}

func newCreds(cfg *tls.Config) credentials.TransportCredentials {
	return handshakeCreds{credentials.NewTLS(cfg)}
}

func (c handshakeCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		return nil, nil, err
	}
	if tlsInfo, ok := info.(credentials.TLSInfo); !ok || tlsInfo.State.Version < tls.VersionTLS13 {
		return conn, info, nil // before TLS 1.3 the server's check is part of the handshake
	}
	deadline := time.Now().Add(firstReadTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	var first [1]byte
	n, err := conn.Read(first[:])
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		_ = conn.Close()
		return nil, nil, err
	}
	// A server silent that long is gRPC's problem to report, not the handshake's.
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return &prefixConn{Conn: conn, prefix: first[:n]}, info, nil
}

func (c handshakeCreds) Clone() credentials.TransportCredentials {
	return handshakeCreds{c.TransportCredentials.Clone()}
}

// prefixConn is a connection whose first bytes were read already: Read returns them
// first. It is read by one goroutine at a time, as every net.Conn of gRPC's is.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
