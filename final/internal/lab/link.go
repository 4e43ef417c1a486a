package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrCut is what a server that is cut off gets when it tries to reach another.
var ErrCut = errors.New("lab: this server is cut off from the others")

// A Link is one server's way to the others in lab mode: open, or cut. While it is cut
// the server neither gossips nor speaks Raft, in either direction, as if its network
// cable were pulled; its HTTP API and the gRPC API for clients stay up, so the page
// still sees it, and a teacher can show a leader that no longer knows it is alone.
// The agent wires it into the three ways a server talks to the others:
//
//   - gossip: memberlist's transport drops every packet, in and out, refuses to dial,
//     and closes incoming streams (GossipTransport);
//   - Raft, out: the StreamLayer dials through the link, which refuses (DialRaft);
//   - Raft, in: the RPC listener closes every connection whose first byte says Raft
//     (Listener). gRPC on the same port is left alone.
//
// Cutting also closes the gossip streams and Raft connections open at the time, so
// nothing already connected slips through. Safe for concurrent use.
type Link struct {
	raftByte byte // the first byte of a Raft connection (consensus.RaftRPC)

	mu   sync.Mutex
	down bool                   // guarded by mu
	open map[*linkConn]struct{} // guarded by mu; connections to close when the link is cut
}

// NewLink returns an open link. raftByte is the first byte of a Raft connection on
// the RPC port (consensus.RaftRPC).
func NewLink(raftByte byte) *Link {
	return &Link{raftByte: raftByte, open: make(map[*linkConn]struct{})}
}

// Cut closes the link's open connections, and refuses new ones until Heal.
func (l *Link) Cut() {
	l.mu.Lock()
	l.down = true
	open := l.open
	l.open = make(map[*linkConn]struct{})
	l.mu.Unlock()
	for c := range open {
		_ = c.Conn.Close()
	}
}

// Heal opens the link again.
func (l *Link) Heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = false
}

// IsCut reports whether the link is cut.
func (l *Link) IsCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// track wraps conn so that Cut closes it. If the link is cut already, it closes conn
// and fails with ErrCut.
func (l *Link) track(conn net.Conn) (*linkConn, error) {
	c := &linkConn{Conn: conn, link: l}
	if err := l.add(c); err != nil {
		return nil, err
	}
	return c, nil
}

// add registers c to be closed by Cut; if the link is cut already, it closes c and
// fails with ErrCut.
func (l *Link) add(c *linkConn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		_ = c.Conn.Close()
		return ErrCut
	}
	l.open[c] = struct{}{}
	return nil
}

// DialRaft opens the Raft connections of the server (agent.Config.RaftDial): it
// refuses while the link is cut.
func (l *Link) DialRaft(ctx context.Context, network, addr string) (net.Conn, error) {
	if l.IsCut() {
		return nil, ErrCut
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return l.track(conn)
}

// A linkConn is a connection that the link closes when it is cut.
type linkConn struct {
	net.Conn
	link *Link
}

func (c *linkConn) Close() error {
	c.link.mu.Lock()
	delete(c.link.open, c)
	c.link.mu.Unlock()
	return c.Conn.Close()
}

// Listener returns ln, the server's RPC port, seen through the link: a connection
// whose first byte says Raft is closed at once while the link is cut, and when it is
// cut later.
func (l *Link) Listener(ln net.Listener) net.Listener { return rpcListener{Listener: ln, link: l} }

type rpcListener struct {
	net.Listener
	link *Link
}

func (l rpcListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rpcConn{linkConn: linkConn{Conn: conn, link: l.link}}, nil
}

// rpcConn is a connection to the RPC port. Its first byte tells Raft from gRPC; a Raft
// connection is the link's to close. The multiplexer reads that byte first.
type rpcConn struct {
	linkConn
	sniffed atomic.Bool // the first byte has been read
}

func (c *rpcConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.sniffed.CompareAndSwap(false, true) && b[0] == c.link.raftByte {
		if err := c.link.add(&c.linkConn); err != nil {
			return 0, err
		}
	}
	return n, err
}

// GossipTransport is memberlist's own NetTransport with the link in the way. Set it as
// the memberlist configuration's Transport; memberlist shuts it down.
type GossipTransport struct {
	link    *Link
	net     *memberlist.NetTransport
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{} // closed by Shutdown
	wg      sync.WaitGroup
}

var _ memberlist.Transport = (*GossipTransport)(nil)

// NewGossipTransport listens at bindAddr ("ip:port"; port 0 picks one), on UDP and
// TCP, through l.
func (l *Link) NewGossipTransport(bindAddr string, logger *slog.Logger) (*GossipTransport, error) {
	host, port, err := net.SplitHostPort(bindAddr)
	if err != nil {
		return nil, err
	}
	portNum, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", port, err)
	}
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{host},
		BindPort:  portNum,
		Logger:    slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	})
	if err != nil {
		return nil, err
	}
	g := &GossipTransport{
		link:    l,
		net:     nt,
		packets: make(chan *memberlist.Packet),
		streams: make(chan net.Conn),
		done:    make(chan struct{}),
	}
	g.wg.Go(g.forwardPackets)
	g.wg.Go(g.forwardStreams)
	return g, nil
}

// forwardPackets passes incoming packets on to memberlist, and drops them while the
// link is cut.
func (g *GossipTransport) forwardPackets() {
	for {
		select {
		case p := <-g.net.PacketCh():
			if g.link.IsCut() {
				continue
			}
			select {
			case g.packets <- p:
			case <-g.done:
				return
			}
		case <-g.done:
			return
		}
	}
}

// forwardStreams passes incoming streams on to memberlist, and closes them while the
// link is cut.
func (g *GossipTransport) forwardStreams() {
	for {
		select {
		case conn := <-g.net.StreamCh():
			c, err := g.link.track(conn)
			if err != nil {
				continue // closed
			}
			select {
			case g.streams <- c:
			case <-g.done:
				_ = c.Close()
				return
			}
		case <-g.done:
			return
		}
	}
}

// FinalAdvertiseAddr is the NetTransport's.
func (g *GossipTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return g.net.FinalAdvertiseAddr(ip, port)
}

// WriteTo sends a packet, or drops it while the link is cut, as a network would: the
// sender cannot tell.
func (g *GossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if g.link.IsCut() {
		return time.Now(), nil
	}
	return g.net.WriteTo(b, addr)
}

// PacketCh returns the packets that get through.
func (g *GossipTransport) PacketCh() <-chan *memberlist.Packet { return g.packets }

// DialTimeout dials another server's gossip port, unless the link is cut.
func (g *GossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if g.link.IsCut() {
		return nil, ErrCut
	}
	conn, err := g.net.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return g.link.track(conn)
}

// StreamCh returns the streams that get through.
func (g *GossipTransport) StreamCh() <-chan net.Conn { return g.streams }

// Shutdown stops the NetTransport, then the forwarding goroutines. memberlist calls it
// while it still reads PacketCh and StreamCh, so what the NetTransport's listeners are
// still passing on gets through, and they can stop.
func (g *GossipTransport) Shutdown() error {
	err := g.net.Shutdown()
	close(g.done)
	g.wg.Wait()
	return err
}
