package chaos_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// A faultKind is one way to hurt the cluster. inject does it and returns what it did;
// the matching heal is done by heal, which undoes everything at once.
type faultKind struct {
	name   string
	inject func(c *cluster, rng *rand.Rand) (string, error)
}

var faultKinds = []faultKind{
	{"kill -9 leader", func(c *cluster, rng *rand.Rand) (string, error) { return c.kill(c.target(rng, true)) }},
	{"kill -9 follower", func(c *cluster, rng *rand.Rand) (string, error) { return c.kill(c.target(rng, false)) }},
	{"pause leader", func(c *cluster, rng *rand.Rand) (string, error) { return c.pause(c.target(rng, true)) }},
	{"pause follower", func(c *cluster, rng *rand.Rand) (string, error) { return c.pause(c.target(rng, false)) }},
	{"isolate leader", func(c *cluster, rng *rand.Rand) (string, error) { return c.isolate(c.target(rng, true)) }},
	{"isolate follower (2/1 split)", func(c *cluster, rng *rand.Rand) (string, error) { return c.isolate(c.target(rng, false)) }},
	{"restart leader", func(c *cluster, rng *rand.Rand) (string, error) { return c.restart(c.target(rng, true)) }},
	{"restart a follower on a new address", func(c *cluster, rng *rand.Rand) (string, error) { return c.move(c.target(rng, false)) }},
	{"damage a follower's newest files", func(c *cluster, rng *rand.Rand) (string, error) { return c.damage(c.target(rng, false), rng) }},
}

// target returns the leader, or a follower chosen with rng; any server if there is no
// leader to be found.
func (c *cluster) target(rng *rand.Rand, leader bool) *node {
	l := c.leader()
	if leader && l != nil {
		return l
	}
	var others []*node
	for _, nd := range c.nodes {
		if nd != l {
			others = append(others, nd)
		}
	}
	return others[rng.IntN(len(others))]
}

// kill sends SIGKILL to nd's process: no shutdown, no flush. Its data stays.
func (c *cluster) kill(nd *node) (string, error) {
	nd.down = true
	_, err := docker("kill", "--signal", "KILL", nd.container)
	return "kill -9 " + nd.name, err
}

// pause freezes nd's processes (the cgroup freezer: SIGSTOP that cannot be caught).
func (c *cluster) pause(nd *node) (string, error) {
	nd.paused = true
	_, err := docker("pause", nd.container)
	return "pause " + nd.name, err
}

// isolate takes nd off the network: it reaches no server and no client reaches it.
func (c *cluster) isolate(nd *node) (string, error) {
	nd.isolated = true
	_, err := docker("network", "disconnect", c.network, nd.container)
	return "isolate " + nd.name, err
}

// restart stops nd gracefully (SIGTERM: a leader hands over first) and starts it again
// with its data.
func (c *cluster) restart(nd *node) (string, error) {
	nd.down = true
	if _, err := docker("stop", "--time", "20", nd.container); err != nil {
		return "restart " + nd.name, err
	}
	return "restart " + nd.name, c.start(nd)
}

// move stops nd gracefully and starts it again, with its data, at another address on
// the network: the others must take it back at its new address.
func (c *cluster) move(nd *node) (string, error) {
	nd.down = true
	if _, err := docker("stop", "--time", "20", nd.container); err != nil {
		return "move " + nd.name, err
	}
	nd.ipMu.Lock()
	old := nd.ip
	nd.ip, nd.altIP = nd.altIP, nd.ip
	nd.ipMu.Unlock()
	return fmt.Sprintf("restart %s at %s (was %s)", nd.name, nd.addr(), old), c.start(nd)
}

// damage kills nd and then damages the newest segment of its data log: flips bytes in
// the middle of its store, or cuts it short, or fills its index with garbage. The
// server must repair or refuse what it finds, then catch up from the others. The heal
// starts it.
func (c *cluster) damage(nd *node, rng *rand.Rand) (string, error) {
	what, err := c.kill(nd)
	if err != nil {
		return what, err
	}
	// The container's process is gone once docker kill returns; its files are ours.
	stores, err := filepath.Glob(filepath.Join(nd.dataDir, "*", "*.store"))
	if err != nil || len(stores) == 0 {
		return what + ", no segment to damage", err
	}
	slices.Sort(stores)
	newest := newestFile(stores)
	info, err := os.Stat(newest)
	if err != nil {
		return what, err
	}
	size := info.Size()
	rel, _ := filepath.Rel(nd.dataDir, newest)
	switch {
	case size > 16 && rng.IntN(3) == 0:
		cut := size / 2
		return fmt.Sprintf("%s, then cut %s from %d to %d bytes", what, rel, size, cut), os.Truncate(newest, cut)
	case size > 16 && rng.IntN(2) == 0:
		at := size/2 + rng.Int64N(size/2)
		return fmt.Sprintf("%s, then flipped bytes of %s at %d", what, rel, at), flip(newest, at)
	default:
		index := newest[:len(newest)-len(".store")] + ".index"
		return fmt.Sprintf("%s, then filled the index of %s with garbage", what, rel), garbage(index, rng)
	}
}

// newestFile returns the file modified last.
func newestFile(paths []string) string {
	newest, when := paths[0], time.Time{}
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil && info.ModTime().After(when) {
			newest, when = p, info.ModTime()
		}
	}
	return newest
}

// flip inverts 8 bytes of the file at at.
func flip(path string, at int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 8)
	n, _ := f.ReadAt(b, at)
	for i := range b[:n] {
		b[i] ^= 0xff
	}
	_, err = f.WriteAt(b[:n], at)
	return err
}

// garbage overwrites the first kilobyte of the file with random bytes.
func garbage(path string, rng *rand.Rand) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1024)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	_, err = f.WriteAt(b, 0)
	return err
}

// heal undoes every fault: reconnects, resumes and starts every server, and returns
// what it did.
func (c *cluster) heal() ([]string, error) {
	var did []string
	for _, nd := range c.nodes {
		if nd.isolated {
			if _, err := docker("network", "connect", "--ip", nd.addr(), c.network, nd.container); err != nil {
				return did, err
			}
			nd.isolated = false
			did = append(did, "reconnect "+nd.name)
		}
		if nd.paused {
			if _, err := docker("unpause", nd.container); err != nil {
				return did, err
			}
			nd.paused = false
			did = append(did, "resume "+nd.name)
		}
		if nd.down {
			if err := c.start(nd); err != nil {
				return did, err
			}
			did = append(did, "start "+nd.name)
		}
	}
	return did, nil
}

// rollingRestart restarts every server in turn, gracefully, waiting for each to be
// ready before the next.
func (c *cluster) rollingRestart(note func(string, ...any)) error {
	for _, nd := range c.nodes {
		if _, err := c.restart(nd); err != nil {
			return err
		}
		note("rolling restart: %s restarted", nd)
		c.waitReady(nd, 2*time.Minute)
	}
	return nil
}
