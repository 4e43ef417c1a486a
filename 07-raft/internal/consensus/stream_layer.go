package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftRPC is the first byte of every Raft connection, sent in plaintext before TLS
// starts. It lets one port carry both Raft and gRPC: the multiplexer in front of the
// listener (cmux) sends connections that start with this byte to the StreamLayer and
// the rest to gRPC. A TLS connection starts with a handshake record, byte 0x16, so the
// two never collide.
//
//	Raft:  0x01 | TLS handshake | raft RPCs ...
//	gRPC:  0x16 … (TLS handshake) | HTTP/2 ...
const RaftRPC byte = 1

// defaultHandshakeTimeout bounds how long an inbound connection may take to send its
// first byte and finish the TLS handshake, and an outbound one when raft gives no
// timeout. It stops a silent or slow peer from holding resources for ever.
const defaultHandshakeTimeout = 5 * time.Second

// StreamLayerConfig configures a StreamLayer.
type StreamLayerConfig struct {
	// ServerTLSConfig is used for connections other servers open to this one. It must
	// require and verify client certificates (tls.RequireAndVerifyClientCert), because
	// the certificate tells who is speaking. Required.
	ServerTLSConfig *tls.Config
	// PeerTLSConfig is used for connections this server opens to others. It carries
	// this server's certificate (a server certificate that is also valid for client
	// auth) and the CAs it trusts. When its ServerName is empty, each Dial uses the host
	// of the address it dials. Required.
	PeerTLSConfig *tls.Config
	// ServerNames are the certificate Common Names allowed to speak Raft, such as
	// "server". A peer whose verified certificate has another name (a client
	// certificate like "root" or "nobody") is refused, in both directions. Required.
	ServerNames []string
	// AdvertiseAddr is the address other servers dial to reach this one, returned by
	// Addr and so stored in the Raft configuration. Empty: the listener's address
	// (wrong when it listens on 0.0.0.0 or [::]).
	AdvertiseAddr string
	// HandshakeTimeout bounds the first byte and the TLS handshake of each connection.
	// Zero means 5 seconds.
	HandshakeTimeout time.Duration
	// Dial, if set, opens the TCP connection under each Raft connection this server
	// opens (StreamLayer.Dial), in place of a net.Dialer. Tests use it to cut a server
	// off from the others. Nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives refused connections at Debug level. Nil discards.
	Logger *slog.Logger
}

// StreamLayer is raft's raft.StreamLayer: the connections Raft's NetworkTransport
// sends its RPCs over. Dial opens a TLS connection to another server after writing
// RaftRPC; Accept returns connections from other servers that sent RaftRPC, completed
// the TLS handshake and proved a server identity.
//
// Inbound connections are checked in their own goroutines, each under
// HandshakeTimeout, so a peer that connects and says nothing cannot stall the Accept
// loop for the others (raft calls Accept serially).
//
// Close closes every connection Dial and Accept returned that is still open. raft's
// NetworkTransport does not close them when raft shuts down, and each one pins a
// goroutine on both ends until it is closed. Close then waits until whoever holds each
// accepted connection has closed it too. raft's transport serves each accepted
// connection in a goroutine that closes it when it returns, and that goroutine calls
// into raft itself for heartbeats, which write the term to the stable store; raft's
// Shutdown does not wait for it. So once Close has returned, no heartbeat is running
// and the stores can be closed. The holder of an accepted connection must close it
// once it fails, as raft's transport does.
//
// The listener belongs to the caller. Close stops Accept but leaves the listener open:
// with cmux, closing a child listener closes the shared root listener, and with it
// the gRPC server on the same port. After Close, connections that still arrive on the
// listener are closed at once; the goroutine that accepts them ends when the caller
// closes the listener. So one listener serves one StreamLayer.
//
// A StreamLayer is safe for concurrent use.
type StreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	serverTLS *tls.Config
	peerTLS   *tls.Config
	names     []string
	timeout   time.Duration
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	logger    *slog.Logger

	conns  chan net.Conn   // handshaken connections, waiting for Accept
	ctx    context.Context // done once Close is called; aborts handshakes in flight
	cancel context.CancelFunc

	lnDone chan struct{} // closed when ln.Accept fails for good
	lnErr  error         // ln.Accept's error; written before lnDone is closed

	mu       sync.Mutex
	closed   bool                     // guarded by mu
	open     map[*streamConn]struct{} // guarded by mu; connections returned and not closed
	wg       sync.WaitGroup           // handshake goroutines; Add only under mu while !closed
	accepted sync.WaitGroup           // accepted connections not closed by their holder; same rule
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer returns a StreamLayer that accepts Raft connections from ln, which is
// typically a cmux listener matching RaftRPC, and starts accepting at once.
func NewStreamLayer(ln net.Listener, c StreamLayerConfig) (*StreamLayer, error) {
	if c.ServerTLSConfig == nil || c.PeerTLSConfig == nil {
		return nil, errors.New("stream layer: ServerTLSConfig and PeerTLSConfig are required")
	}
	if c.ServerTLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("stream layer: ServerTLSConfig must require and verify client certificates")
	}
	if len(c.ServerNames) == 0 {
		return nil, errors.New("stream layer: ServerNames is empty, so no server could speak Raft")
	}
	s := &StreamLayer{
		ln:      ln,
		names:   slices.Clone(c.ServerNames),
		timeout: c.HandshakeTimeout,
		dial:    c.Dial,
		logger:  c.Logger,
		conns:   make(chan net.Conn),
		open:    make(map[*streamConn]struct{}),
		lnDone:  make(chan struct{}),
	}
	if s.timeout <= 0 {
		s.timeout = defaultHandshakeTimeout
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.dial == nil {
		var d net.Dialer
		s.dial = d.DialContext
	}
	s.advertise = ln.Addr()
	if c.AdvertiseAddr != "" {
		s.advertise = advertiseAddr(c.AdvertiseAddr)
	}
	s.serverTLS = c.ServerTLSConfig.Clone()
	s.serverTLS.VerifyConnection = chainVerify(c.ServerTLSConfig.VerifyConnection, s.verifyPeer)
	s.peerTLS = c.PeerTLSConfig.Clone()
	s.peerTLS.VerifyConnection = chainVerify(c.PeerTLSConfig.VerifyConnection, s.verifyPeer)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.acceptLoop()
	return s, nil
}

// advertiseAddr is a configured address, returned by Addr as it was given.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }

// chainVerify returns a tls.Config.VerifyConnection that runs first (if any), then
// second.
func chainVerify(first, second func(tls.ConnectionState) error) func(tls.ConnectionState) error {
	if first == nil {
		return second
	}
	return func(cs tls.ConnectionState) error {
		if err := first(cs); err != nil {
			return err
		}
		return second(cs)
	}
}

// verifyPeer fails the TLS handshake unless the other side's certificate was verified
// against our CAs and names one of the allowed servers.
func (s *StreamLayer) verifyPeer(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return errors.New("raft peer sent no verified certificate")
	}
	cn := cs.VerifiedChains[0][0].Subject.CommonName
	if !slices.Contains(s.names, cn) {
		return fmt.Errorf("certificate %q is not a server identity allowed to speak Raft", cn)
	}
	return nil
}

// Dial opens a Raft connection to the server at addr: it connects, writes RaftRPC,
// and completes a TLS handshake in which the other side must prove a server identity,
// all within timeout (zero: HandshakeTimeout). The returned connection is the TLS
// connection; on error nothing is left open.
func (s *StreamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = s.timeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()

	conn, err := s.dial(ctx, "tcp", string(addr))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, errors.Join(fmt.Errorf("dial raft peer %s: %w", addr, err), conn.Close())
	}
	if _, err := conn.Write([]byte{RaftRPC}); err != nil {
		return nil, errors.Join(fmt.Errorf("dial raft peer %s: write marker: %w", addr, err), conn.Close())
	}
	config := s.peerTLS
	if config.ServerName == "" {
		host, _, err := net.SplitHostPort(string(addr))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("dial raft peer %s: %w", addr, err), conn.Close())
		}
		config = config.Clone()
		config.ServerName = host
	}
	tlsConn := tls.Client(conn, config)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("dial raft peer %s: TLS: %w", addr, err), conn.Close())
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, errors.Join(fmt.Errorf("dial raft peer %s: %w", addr, err), tlsConn.Close())
	}
	return s.track(tlsConn, false)
}

// acceptLoop takes connections from the listener and checks each in its own goroutine,
// until the listener fails (it is closed by its owner). After Close it closes every
// connection it gets.
func (s *StreamLayer) acceptLoop() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			// A cmux child listener and a closed net.Listener both fail for good;
			// there is nothing to retry.
			s.lnErr = err
			close(s.lnDone)
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			continue
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handshake(conn)
		}()
	}
}

// handshake reads the marker byte and completes the TLS handshake on an inbound
// connection within HandshakeTimeout, then hands it to Accept. It closes the
// connection if any step fails, the time runs out, or the layer is closed.
func (s *StreamLayer) handshake(conn net.Conn) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	// Closing the connection is what unblocks a read that is waiting for a silent
	// peer, whether the time ran out or Close was called.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })

	tlsConn, err := s.serverHandshake(ctx, conn)
	if !stop() { // the connection was closed under us
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		s.logger.Debug("raft connection refused", "peer", conn.RemoteAddr().String(), "error", err)
		_ = conn.Close()
		return
	}
	c, err := s.track(tlsConn, true)
	if err != nil {
		return
	}
	select {
	case s.conns <- c:
	case <-s.ctx.Done():
		_ = c.Close()
	}
}

// serverHandshake does the work of handshake; ctx bounds it.
func (s *StreamLayer) serverHandshake(ctx context.Context, conn net.Conn) (*tls.Conn, error) {
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	var marker [1]byte
	if _, err := io.ReadFull(conn, marker[:]); err != nil {
		return nil, fmt.Errorf("read marker: %w", err)
	}
	if marker[0] != RaftRPC {
		return nil, fmt.Errorf("first byte %#x is not the Raft marker %#x", marker[0], RaftRPC)
	}
	tlsConn := tls.Server(conn, s.serverTLS)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return tlsConn, nil
}

// Accept returns the next connection from another server that has sent RaftRPC and
// proved a server identity. It blocks until there is one, and fails once the layer is
// closed (net.ErrClosed) or the listener has failed.
func (s *StreamLayer) Accept() (net.Conn, error) {
	select {
	case conn := <-s.conns:
		return conn, nil
	case <-s.ctx.Done():
		return nil, fmt.Errorf("raft stream layer: %w", net.ErrClosed)
	case <-s.lnDone:
		return nil, fmt.Errorf("raft stream layer: %w", s.lnErr)
	}
}

// Close stops Accept, aborts handshakes in progress and waits for them to end, closes
// the connections Dial and Accept returned, and waits until the holders of the accepted
// ones have closed them (see StreamLayer). It does not close the listener, which
// belongs to the caller. It is idempotent and returns nil.
func (s *StreamLayer) Close() error {
	s.mu.Lock()
	s.closed = true
	open := s.open
	s.open = map[*streamConn]struct{}{}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	for c := range open {
		_ = c.Conn.Close() // the holder still has to call c.Close
	}
	s.accepted.Wait()
	return nil
}

// Addr returns the address other servers dial to reach this one: AdvertiseAddr, or the
// listener's address.
func (s *StreamLayer) Addr() net.Addr {
	return s.advertise
}

// A streamConn is a connection Dial or Accept returned. Closing it forgets it.
type streamConn struct {
	*tls.Conn
	layer    *StreamLayer
	accepted bool // counted in layer.accepted until closed
	once     sync.Once
}

func (c *streamConn) Close() error {
	c.once.Do(func() {
		c.layer.mu.Lock()
		delete(c.layer.open, c)
		c.layer.mu.Unlock()
		if c.accepted {
			c.layer.accepted.Done()
		}
	})
	return c.Conn.Close()
}

// track registers conn as open and returns the connection to hand out; accepted says
// whether it comes from Accept. After Close it closes conn and fails instead.
func (s *StreamLayer) track(conn *tls.Conn, accepted bool) (*streamConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = conn.Close()
		return nil, fmt.Errorf("raft stream layer: %w", net.ErrClosed)
	}
	c := &streamConn{Conn: conn, layer: s, accepted: accepted}
	s.open[c] = struct{}{}
	if accepted {
		s.accepted.Add(1)
	}
	return c, nil
}
