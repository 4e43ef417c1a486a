package consensus_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/soheilhy/cmux"
	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/testenv"
)

// listen opens a listener on a free loopback port, closed when the test ends (after
// everything registered later, such as the stream layers on it).
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// newStreamLayer returns a StreamLayer on ln whose outgoing connections present cert,
// closed when the test ends.
func newStreamLayer(t *testing.T, ln net.Listener, cert tls.Certificate, handshakeTimeout time.Duration) *consensus.StreamLayer {
	t.Helper()
	c := certs(t)
	s, err := consensus.NewStreamLayer(ln, consensus.StreamLayerConfig{
		ServerTLSConfig:  c.serverTLS(),
		PeerTLSConfig:    c.peerTLS(cert),
		ServerNames:      []string{"server"},
		HandshakeTimeout: handshakeTimeout,
		Logger:           testenv.Logger(t),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

type acceptResult struct {
	conn net.Conn
	err  error
}

// acceptOnce calls s.Accept in a goroutine and delivers its result. The goroutine ends
// at the latest when s is closed.
func acceptOnce(s *consensus.StreamLayer) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		conn, err := s.Accept()
		ch <- acceptResult{conn, err}
	}()
	return ch
}

// receive waits for an accepted connection and fails the test after testenv.WaitFor.
func receive(t *testing.T, ch <-chan acceptResult) net.Conn {
	t.Helper()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		t.Cleanup(func() { _ = r.conn.Close() })
		return r.conn
	case <-time.After(testenv.WaitFor):
		t.Fatal("Accept returned no connection")
		return nil
	}
}

// roundTrip writes a message on one end and reads it on the other, both ways.
func roundTrip(t *testing.T, a, b net.Conn) {
	t.Helper()
	for _, dir := range []struct{ from, to net.Conn }{{a, b}, {b, a}} {
		msg := []byte("hello raft")
		errc := make(chan error, 1)
		go func() { _, err := dir.from.Write(msg); errc <- err }()
		got := make([]byte, len(msg))
		_, err := io.ReadFull(dir.to, got)
		require.NoError(t, err)
		require.NoError(t, <-errc)
		require.Equal(t, msg, got)
	}
}

func TestStreamLayerDialAccept(t *testing.T) {
	c := certs(t)
	a := newStreamLayer(t, listen(t), c.server, 0)
	b := newStreamLayer(t, listen(t), c.server, 0)

	accepted := acceptOnce(a)
	out, err := b.Dial(raftAddr(a), testenv.WaitFor)
	require.NoError(t, err)
	t.Cleanup(func() { _ = out.Close() })
	in := receive(t, accepted)

	roundTrip(t, out, in)
	tlsIn, ok := in.(interface{ ConnectionState() tls.ConnectionState })
	require.True(t, ok, "accepted connection is %T, want a TLS connection", in)
	require.Equal(t, "server", tlsIn.ConnectionState().PeerCertificates[0].Subject.CommonName)
}

// Config.Dial, when set, opens the connections Dial makes; its error comes back wrapped.
func TestStreamLayerDialsThroughConfigDial(t *testing.T) {
	c := certs(t)
	a := newStreamLayer(t, listen(t), c.server, 0)
	errCut := errors.New("cut off")
	var dialed []string
	b, err := consensus.NewStreamLayer(listen(t), consensus.StreamLayerConfig{
		ServerTLSConfig: c.serverTLS(),
		PeerTLSConfig:   c.peerTLS(c.server),
		ServerNames:     []string{"server"},
		Dial: func(_ context.Context, network, addr string) (net.Conn, error) {
			dialed = append(dialed, network+" "+addr)
			return nil, errCut
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })

	_, err = b.Dial(raftAddr(a), testenv.WaitFor)
	require.ErrorIs(t, err, errCut)
	require.Equal(t, []string{"tcp " + string(raftAddr(a))}, dialed)
}

// Close closes the connections the layer handed out: raft's transport does not, and a
// connection left open pins a goroutine on each end.
func TestStreamLayerCloseClosesConnections(t *testing.T) {
	for _, side := range []string{"dialling", "accepting"} {
		t.Run(side+" side closes", func(t *testing.T) {
			c := certs(t)
			acceptor := newStreamLayer(t, listen(t), c.server, 0)
			dialler := newStreamLayer(t, listen(t), c.server, 0)
			accepted := acceptOnce(acceptor)
			out, err := dialler.Dial(raftAddr(acceptor), testenv.WaitFor)
			require.NoError(t, err)
			in := receive(t, accepted)
			roundTrip(t, out, in)

			closing, other := dialler, in
			if side == "accepting" {
				closing, other = acceptor, out
			}
			closed := make(chan error, 1)
			go func() { closed <- closing.Close() }()

			require.NoError(t, other.SetReadDeadline(time.Now().Add(testenv.WaitFor)))
			_, err = other.Read(make([]byte, 1))
			require.ErrorIs(t, err, io.EOF, "the other end sees the connection closed")

			if side == "accepting" {
				// Close waits until the holder of the accepted connection, raft's
				// transport in a server, has closed it as well.
				select {
				case <-closed:
					t.Fatal("Close returned while an accepted connection was still held")
				case <-time.After(50 * time.Millisecond): // a while in which Close must not return
				}
				_ = in.Close() // the layer closed the socket already; this releases it
			}
			select {
			case err := <-closed:
				require.NoError(t, err)
			case <-time.After(testenv.WaitFor):
				t.Fatal("Close did not return")
			}
		})
	}
}

func TestStreamLayerAdvertiseAddr(t *testing.T) {
	c := certs(t)
	ln := listen(t)
	s, err := consensus.NewStreamLayer(ln, consensus.StreamLayerConfig{
		ServerTLSConfig: c.serverTLS(),
		PeerTLSConfig:   c.peerTLS(c.server),
		ServerNames:     []string{"server"},
		AdvertiseAddr:   "golog-0.golog:8400",
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.Equal(t, "golog-0.golog:8400", s.Addr().String())
}

func TestStreamLayerConfigErrors(t *testing.T) {
	c := certs(t)
	noClientAuth := c.serverTLS()
	noClientAuth.ClientAuth = tls.VerifyClientCertIfGiven
	tests := []struct {
		name   string
		config consensus.StreamLayerConfig
	}{
		{"no server TLS", consensus.StreamLayerConfig{PeerTLSConfig: c.peerTLS(c.server), ServerNames: []string{"server"}}},
		{"no peer TLS", consensus.StreamLayerConfig{ServerTLSConfig: c.serverTLS(), ServerNames: []string{"server"}}},
		{"client certificates optional", consensus.StreamLayerConfig{ServerTLSConfig: noClientAuth, PeerTLSConfig: c.peerTLS(c.server), ServerNames: []string{"server"}}},
		{"no server names", consensus.StreamLayerConfig{ServerTLSConfig: c.serverTLS(), PeerTLSConfig: c.peerTLS(c.server)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := consensus.NewStreamLayer(listen(t), tt.config)
			require.Error(t, err)
		})
	}
}

// A peer that connects and sends nothing must not hold up the connection behind it:
// raft calls Accept serially, so a blocking first-byte read would stall every peer.
func TestStreamLayerSilentConnectionDoesNotBlockAccept(t *testing.T) {
	c := certs(t)
	// A long handshake timeout, so the test shows the silent peer is not waited for.
	a := newStreamLayer(t, listen(t), c.server, time.Hour)
	b := newStreamLayer(t, listen(t), c.server, 0)

	silent, err := net.Dial("tcp", a.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })

	accepted := acceptOnce(a)
	out, err := b.Dial(raftAddr(a), testenv.WaitFor)
	require.NoError(t, err)
	t.Cleanup(func() { _ = out.Close() })
	roundTrip(t, out, receive(t, accepted))
}

// raftAddr is the address to dial s at.
func raftAddr(s *consensus.StreamLayer) raft.ServerAddress {
	return raft.ServerAddress(s.Addr().String())
}

func TestStreamLayerHandshakeTimeoutClosesSilentConnection(t *testing.T) {
	c := certs(t)
	a := newStreamLayer(t, listen(t), c.server, 100*time.Millisecond)

	silent, err := net.Dial("tcp", a.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(testenv.WaitFor)))
	_, err = silent.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the server closes a connection that sends nothing")
}

func TestStreamLayerRefuses(t *testing.T) {
	c := certs(t)
	tests := []struct {
		name string
		// open makes a connection to addr that must not reach Accept. It returns the
		// client end, or nil if opening it already failed as it should.
		open func(t *testing.T, addr string) net.Conn
	}{
		{"wrong first byte", func(t *testing.T, addr string) net.Conn {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			_, err = conn.Write([]byte{0x16, 0x03, 0x01})
			require.NoError(t, err)
			return conn
		}},
		{"client certificate nobody", func(t *testing.T, addr string) net.Conn {
			nobody := newStreamLayer(t, listen(t), c.nobody, 0)
			conn, err := nobody.Dial(raft.ServerAddress(addr), testenv.WaitFor)
			if err != nil {
				return nil // refused during the handshake (TLS 1.2 order of messages)
			}
			return conn // TLS 1.3: the client finishes first; the server then hangs up
		}},
		{"client certificate root", func(t *testing.T, addr string) net.Conn {
			root := newStreamLayer(t, listen(t), c.root, 0)
			conn, err := root.Dial(raft.ServerAddress(addr), testenv.WaitFor)
			if err != nil {
				return nil
			}
			return conn
		}},
		{"no client certificate", func(t *testing.T, addr string) net.Conn {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			_, err = conn.Write([]byte{consensus.RaftRPC})
			require.NoError(t, err)
			tlsConn := tls.Client(conn, &tls.Config{RootCAs: c.pool, ServerName: "127.0.0.1"})
			_ = tlsConn.Handshake() // may succeed under TLS 1.3; the server hangs up after
			return tlsConn
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newStreamLayer(t, listen(t), c.server, 0)
			accepted := acceptOnce(a)

			if conn := tt.open(t, a.Addr().String()); conn != nil {
				t.Cleanup(func() { _ = conn.Close() })
				require.NoError(t, conn.SetReadDeadline(time.Now().Add(testenv.WaitFor)))
				_, err := conn.Read(make([]byte, 1))
				require.Error(t, err, "the server must hang up")
				var netErr net.Error
				require.False(t, errors.As(err, &netErr) && netErr.Timeout(), "the server kept the connection open: %v", err)
			}

			// The refused connection never reached Accept: the next one does.
			b := newStreamLayer(t, listen(t), c.server, 0)
			out, err := b.Dial(raftAddr(a), testenv.WaitFor)
			require.NoError(t, err)
			t.Cleanup(func() { _ = out.Close() })
			in := receive(t, accepted)
			roundTrip(t, out, in)
		})
	}
}

// Dial checks the other side too: a server that cannot prove one of the allowed server
// identities is not spoken to.
func TestStreamLayerDialRefusesNonServer(t *testing.T) {
	c := certs(t)
	a := newStreamLayer(t, listen(t), c.server, 0) // presents CN "server"
	_ = acceptOnce(a)

	picky, err := consensus.NewStreamLayer(listen(t), consensus.StreamLayerConfig{
		ServerTLSConfig: c.serverTLS(),
		PeerTLSConfig:   c.peerTLS(c.server),
		ServerNames:     []string{"raft-peer"}, // "server" is not among them
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, picky.Close()) })
	_, err = picky.Dial(raftAddr(a), testenv.WaitFor)
	require.ErrorContains(t, err, `certificate "server" is not a server identity`)
}

func TestStreamLayerClose(t *testing.T) {
	c := certs(t)
	a := newStreamLayer(t, listen(t), c.server, 0)
	b := newStreamLayer(t, listen(t), c.server, 0)
	accepted := acceptOnce(a)

	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "Close is idempotent")
	select {
	case r := <-accepted:
		require.ErrorIs(t, r.err, net.ErrClosed)
	case <-time.After(testenv.WaitFor):
		t.Fatal("Accept did not return after Close")
	}
	_, err := a.Accept()
	require.ErrorIs(t, err, net.ErrClosed)

	// Connections that still arrive are closed, not left hanging.
	_, err = b.Dial(raftAddr(a), testenv.WaitFor)
	require.Error(t, err)
	// And a closed layer does not dial.
	_, err = a.Dial(raftAddr(b), testenv.WaitFor)
	require.Error(t, err)
}

// With cmux, closing a child listener closes the root listener and so the whole port.
// Closing the stream layer (as raft.Shutdown does) must leave the port serving others.
func TestStreamLayerCloseKeepsSharedListener(t *testing.T) {
	c := certs(t)
	root := listen(t)
	mux := cmux.New(root)
	mux.SetReadTimeout(testenv.WaitFor)
	raftLn := mux.Match(func(r io.Reader) bool {
		b := make([]byte, 1)
		_, err := io.ReadFull(r, b)
		return err == nil && b[0] == consensus.RaftRPC
	})
	otherLn := mux.Match(cmux.Any())
	served := make(chan error, 1)
	go func() { served <- mux.Serve() }()
	t.Cleanup(func() {
		_ = root.Close()
		<-served
	})

	s, err := consensus.NewStreamLayer(raftLn, consensus.StreamLayerConfig{
		ServerTLSConfig: c.serverTLS(),
		PeerTLSConfig:   c.peerTLS(c.server),
		ServerNames:     []string{"server"},
	})
	require.NoError(t, err)
	peer := newStreamLayer(t, listen(t), c.server, 0)

	// Raft traffic reaches the stream layer through the mux.
	accepted := acceptOnce(s)
	out, err := peer.Dial(raft.ServerAddress(root.Addr().String()), testenv.WaitFor)
	require.NoError(t, err)
	in := receive(t, accepted)
	roundTrip(t, out, in)
	require.NoError(t, out.Close())
	require.NoError(t, in.Close())

	require.NoError(t, s.Close())

	// The port still serves the other protocol.
	otherAccepted := make(chan net.Conn, 1)
	go func() {
		conn, err := otherLn.Accept()
		if err == nil {
			otherAccepted <- conn
		}
	}()
	conn, err := net.Dial("tcp", root.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	require.NoError(t, err)
	select {
	case in := <-otherAccepted:
		t.Cleanup(func() { _ = in.Close() })
		got := make([]byte, 3)
		_, err := io.ReadFull(in, got)
		require.NoError(t, err)
		require.True(t, bytes.Equal([]byte("GET"), got))
	case <-time.After(testenv.WaitFor):
		t.Fatal("the shared listener stopped serving after the stream layer closed")
	}
}
