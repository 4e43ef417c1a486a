package agent_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"

	"golog/internal/agent"
	"golog/internal/consensus"
	"golog/internal/testenv"
)

// errCut is what a server that is cut off gets when it tries to reach another.
var errCut = errors.New("partition: this server is cut off")

// A partition cuts servers of a test cluster off from the others, in-process, and
// heals them. A server talks to the others three ways, and its link blocks each while
// it is cut:
//
//   - gossip: its memberlist transport drops every packet, in and out, refuses to dial,
//     and closes incoming streams (gossipTransport);
//   - Raft, out: the StreamLayer dials through the link, which refuses (Config.RaftDial);
//   - Raft, in: its RPC listener closes every connection whose first byte says Raft
//     (rpcConn). gRPC on the same port is left alone, so the test's own clients still
//     reach a server that is cut off: the test watches it from outside the cluster.
//
// Cutting a server also closes the gossip streams and Raft connections it has open, so
// nothing already connected slips through. Two servers that are both cut off cannot
// reach each other either: each is alone.
type partition struct {
	t *testing.T

	mu    sync.Mutex
	links map[string]*link // by server name; guarded by mu
}

func newPartition(t *testing.T) *partition {
	return &partition{t: t, links: make(map[string]*link)}
}

// attach makes the server nd, about to start with cfg, talk to the others through its
// link. Use it as cluster.configure.
func (p *partition) attach(nd *node, cfg *agent.Config) {
	l := p.link(nd.name)
	cfg.RPCListener = rpcListener{Listener: cfg.RPCListener, link: l}
	cfg.RaftDial = l.dialRaft
	tune := cfg.Tune
	bindAddr := cfg.BindAddr
	logger := testenv.Logger(p.t)
	cfg.Tune = func(sc *serf.Config) {
		if tune != nil {
			tune(sc)
		}
		tr, err := newGossipTransport(l, bindAddr, logger)
		require.NoError(p.t, err)
		sc.MemberlistConfig.Transport = tr // memberlist shuts it down
	}
}

// link returns the link of the server called name.
func (p *partition) link(name string) *link {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.links[name]
	if !ok {
		l = &link{open: make(map[*linkConn]struct{})}
		p.links[name] = l
	}
	return l
}

// Cut cuts nd off from the other servers until Heal.
func (p *partition) Cut(nd *node) {
	p.t.Helper()
	p.t.Logf("partition: %s is cut off", nd.name)
	p.link(nd.name).cut()
}

// Heal lets nd talk to the others again.
func (p *partition) Heal(nd *node) {
	p.t.Helper()
	p.t.Logf("partition: %s is back", nd.name)
	p.link(nd.name).heal()
}

// A link is one server's way to the others: open, or cut.
type link struct {
	mu   sync.Mutex
	down bool                   // guarded by mu
	open map[*linkConn]struct{} // guarded by mu; connections to close when the link is cut
}

// cut closes the link's open connections, and refuses new ones until heal.
func (l *link) cut() {
	l.mu.Lock()
	l.down = true
	open := l.open
	l.open = make(map[*linkConn]struct{})
	l.mu.Unlock()
	for c := range open {
		_ = c.Conn.Close()
	}
}

func (l *link) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = false
}

func (l *link) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// track wraps conn so that cut closes it. If the link is cut already, it closes conn
// and fails.
func (l *link) track(conn net.Conn) (*linkConn, error) {
	c := &linkConn{Conn: conn, link: l}
	if err := l.add(c); err != nil {
		return nil, err
	}
	return c, nil
}

// add registers c to be closed by cut; if the link is cut already, it closes c and
// fails with errCut.
func (l *link) add(c *linkConn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		_ = c.Conn.Close()
		return errCut
	}
	l.open[c] = struct{}{}
	return nil
}

// dialRaft is the server's Config.RaftDial.
func (l *link) dialRaft(ctx context.Context, network, addr string) (net.Conn, error) {
	if l.isCut() {
		return nil, errCut
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
	link *link
}

func (c *linkConn) Close() error {
	c.link.mu.Lock()
	delete(c.link.open, c)
	c.link.mu.Unlock()
	return c.Conn.Close()
}

// rpcListener is a server's RPC port, seen through its link.
type rpcListener struct {
	net.Listener
	link *link
}

func (l rpcListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rpcConn{linkConn: linkConn{Conn: conn, link: l.link}}, nil
}

// rpcConn is a connection to the RPC port. Its first byte tells Raft (consensus.RaftRPC)
// from gRPC; a Raft connection is the link's to close, and is closed at once if the
// link is cut. cmux reads that byte first, in a read of its own.
type rpcConn struct {
	linkConn
	sniffed atomic.Bool // the first byte has been read
}

func (c *rpcConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.sniffed.CompareAndSwap(false, true) && b[0] == consensus.RaftRPC {
		if err := c.link.add(&c.linkConn); err != nil {
			return 0, err
		}
	}
	return n, err
}

// gossipTransport is memberlist's own NetTransport, with the link in the way.
type gossipTransport struct {
	link    *link
	net     *memberlist.NetTransport
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{} // closed by Shutdown
	wg      sync.WaitGroup
}

var _ memberlist.Transport = (*gossipTransport)(nil)

// newGossipTransport listens at bindAddr ("ip:port"; port 0 picks one), on UDP and TCP.
func newGossipTransport(l *link, bindAddr string, logger *slog.Logger) (*gossipTransport, error) {
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
	g := &gossipTransport{
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
func (g *gossipTransport) forwardPackets() {
	for {
		select {
		case p := <-g.net.PacketCh():
			if g.link.isCut() {
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
func (g *gossipTransport) forwardStreams() {
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

func (g *gossipTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return g.net.FinalAdvertiseAddr(ip, port)
}

// WriteTo sends a packet, or drops it while the link is cut, as a network would: the
// sender cannot tell.
func (g *gossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if g.link.isCut() {
		return time.Now(), nil
	}
	return g.net.WriteTo(b, addr)
}

func (g *gossipTransport) PacketCh() <-chan *memberlist.Packet { return g.packets }

func (g *gossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if g.link.isCut() {
		return nil, errCut
	}
	conn, err := g.net.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return g.link.track(conn)
}

func (g *gossipTransport) StreamCh() <-chan net.Conn { return g.streams }

// Shutdown stops the NetTransport, then the forwarding goroutines. memberlist calls it
// while it still reads PacketCh and StreamCh, so what the NetTransport's listeners are
// still passing on gets through, and they can stop.
func (g *gossipTransport) Shutdown() error {
	err := g.net.Shutdown()
	close(g.done)
	g.wg.Wait()
	return err
}
