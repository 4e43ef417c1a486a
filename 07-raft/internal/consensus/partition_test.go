package consensus_test

import (
	"context"
	"errors"
	"net"
	"sync"
)

// errCut is what a Raft connection to or from a server that is cut off gets.
var errCut = errors.New("partition: the server is cut off")

// A partition cuts servers of a testCluster off from the others and heals them. Every
// Raft connection of the cluster is dialled through it (StreamLayerConfig.Dial), so it
// knows both ends of each: while a server is cut off, a dial from it or to it is refused,
// and cutting it closes the connections it has open, in both directions. Nothing else
// changes: the server keeps running, and the test still calls it directly.
type partition struct {
	mu   sync.Mutex
	cut  map[string]bool             // addresses of the servers cut off; guarded by mu
	open map[*partitionConn]struct{} // every open connection; guarded by mu
}

func newPartition() *partition {
	return &partition{cut: make(map[string]bool), open: make(map[*partitionConn]struct{})}
}

// dialer returns the Dial of the server at from.
func (p *partition) dialer(from string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p.isCut(from, addr) {
			return nil, errCut
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		pc := &partitionConn{Conn: conn, p: p, ends: [2]string{from, addr}}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.cut[from] || p.cut[addr] { // cut while dialling
			_ = conn.Close()
			return nil, errCut
		}
		p.open[pc] = struct{}{}
		return pc, nil
	}
}

func (p *partition) isCut(a, b string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut[a] || p.cut[b]
}

// Cut cuts the server at addr off from the others, until Heal.
func (p *partition) Cut(addr string) {
	p.mu.Lock()
	p.cut[addr] = true
	var closing []*partitionConn
	for pc := range p.open {
		if pc.ends[0] == addr || pc.ends[1] == addr {
			closing = append(closing, pc)
			delete(p.open, pc)
		}
	}
	p.mu.Unlock()
	for _, pc := range closing {
		_ = pc.Conn.Close()
	}
}

// Heal lets the server at addr reach the others again.
func (p *partition) Heal(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.cut, addr)
}

// A partitionConn is a Raft connection the partition knows the ends of.
type partitionConn struct {
	net.Conn
	p    *partition
	ends [2]string // the dialling server's address and the address it dialled
}

func (c *partitionConn) Close() error {
	c.p.mu.Lock()
	delete(c.p.open, c)
	c.p.mu.Unlock()
	return c.Conn.Close()
}
