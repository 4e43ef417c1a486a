package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
	{"partition, the leader in the minority", func(c *cluster, rng *rand.Rand) (string, error) { return c.split(rng, true) }},
	{"partition, the leader in the majority", func(c *cluster, rng *rand.Rand) (string, error) { return c.split(rng, false) }},
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
// The freezer gives up, and thaws the container again, when a process stays in the
// kernel (an fsync) while it tries ("OCI runtime pause failed: unable to freeze"):
// then pause tries again.
func (c *cluster) pause(nd *node) (string, error) {
	nd.paused = true
	err := c.poll(pauseTimeout, func(context.Context) error {
		_, err := docker("pause", nd.container)
		return err
	})
	return "pause " + nd.name, err
}

// pauseTimeout bounds the tries of pause.
const pauseTimeout = 20 * time.Second

// isolate takes nd off the network: it reaches no server and no client reaches it.
func (c *cluster) isolate(nd *node) (string, error) {
	nd.isolated = true
	_, err := docker("network", "disconnect", c.network, nd.container)
	return "isolate " + nd.name, err
}

// split cuts the cluster in two, a minority and a majority (1/2 of three servers, 2/3
// of five), with the leader on the side asked for: each side still talks within
// itself, and clients still reach both. Unlike isolate, the minority is not alone:
// its servers keep hearing each other (an old leader among them keeps a follower for
// a while), and each of them answers clients, which must see it refuse writes and
// linearizable reads while its local reads go stale.
//
// The cut is made in the minority's network namespaces, from the host (the image has
// no tools): iptables drops every packet from or to the majority's addresses. The
// host's own address on the network is not among them, so the test reaches every
// server. split returns once the cut has taken effect, as the servers say: the
// majority agrees on a leader of its own, and no server of the minority is ready (an
// old leader among them has stepped down).
func (c *cluster) split(rng *rand.Rand, leaderInMinority bool) (string, error) {
	minority, majority, old := c.sides(rng, leaderInMinority)
	what := fmt.Sprintf("partition %v | %v, the leader %v", minority, majority, old)
	var peers []string
	for _, nd := range majority {
		peers = append(peers, nd.addr())
	}
	for _, nd := range minority {
		nd.cutFrom = peers // before the cut, so that heal undoes a cut made in part
		if err := cutOff(nd, peers, "-A"); err != nil {
			return what, err
		}
	}
	start := time.Now()
	leader, err := c.waitSplit(minority, majority)
	if err != nil {
		return what, fmt.Errorf("the partition did not take effect: %w", err)
	}
	return fmt.Sprintf("%s: after %v the majority follows %s, no server of the minority is ready",
		what, time.Since(start).Round(time.Millisecond), leader), nil
}

// sides draws the minority, with the leader in it or not, and returns the rest as the
// majority, and the leader (nil if none was found).
func (c *cluster) sides(rng *rand.Rand, leaderInMinority bool) (minority, majority []*node, l *node) {
	l = c.leader()
	var others []*node
	for _, nd := range c.nodes {
		if nd != l {
			others = append(others, nd)
		}
	}
	rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	order := others
	if l != nil && leaderInMinority {
		order = append([]*node{l}, others...)
	} else if l != nil {
		order = append(others, l)
	}
	n := (len(order) - 1) / 2
	minority, majority = order[:n], order[n:]
	slices.SortFunc(minority, byName)
	slices.SortFunc(majority, byName)
	return minority, majority, l
}

func byName(a, b *node) int { return strings.Compare(a.name, b.name) }

// cutOff adds (op "-A") or deletes ("-D") the rules that drop nd's packets from and to
// addrs, in nd's network namespace.
func cutOff(nd *node, addrs []string, op string) error {
	pid, err := docker("inspect", "-f", "{{.State.Pid}}", nd.container)
	if err != nil {
		return err
	}
	list := strings.Join(addrs, ",")
	for _, rule := range [][]string{
		{"INPUT", "-s", list, "-j", "DROP"},
		{"OUTPUT", "-d", list, "-j", "DROP"},
	} {
		args := append([]string{"-t", pid, "-n", "iptables", "-w", op}, rule...)
		ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
		out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("nsenter %s (a partition needs nsenter and iptables on the host, as root): %w: %s",
				strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// waitSplit waits until every server of the majority names one leader among them and
// no server of the minority is ready, and returns that leader.
func (c *cluster) waitSplit(minority, majority []*node) (*node, error) {
	var leader *node
	err := c.poll(splitTimeout, func(ctx context.Context) error {
		leader = nil
		for _, nd := range majority {
			l, err := c.readyz(ctx, nd)
			if err != nil {
				return fmt.Errorf("majority: %w", err)
			}
			if leader != nil && l != leader.name {
				return fmt.Errorf("majority: %s follows %s, %s follows %s", majority[0], leader, nd, l)
			}
			i := slices.IndexFunc(majority, func(m *node) bool { return m.name == l })
			if i < 0 {
				return fmt.Errorf("majority: %s follows %s, of the minority", nd, l)
			}
			leader = majority[i]
		}
		for _, nd := range minority {
			if l, err := c.readyz(ctx, nd); err == nil {
				return fmt.Errorf("minority: %s is ready, following %s", nd, l)
			}
		}
		return nil
	})
	return leader, err
}

// splitTimeout bounds how long a partition takes to show: an election in the majority,
// and the minority's leader stepping down (raft's leader lease, 500ms by default).
const splitTimeout = 30 * time.Second

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
		if nd.cutFrom != nil {
			if err := cutOff(nd, nd.cutFrom, "-D"); err != nil {
				return did, err
			}
			nd.cutFrom = nil
			did = append(did, "rejoin "+nd.name)
		}
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
