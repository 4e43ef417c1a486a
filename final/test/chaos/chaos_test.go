package chaos_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golog/test/history"
)

// The suite's knobs, from the environment (make chaos passes them on):
//
//	GOLOG_CHAOS_SEED    run this one seed (printed by every run, to replay it)
//	GOLOG_CHAOS_RUNS    how many seeded schedules to run (default 1)
//	GOLOG_CHAOS_FAULTS  faults in each schedule (default 8)
//	GOLOG_CHAOS_KINDS   draw only the kinds of fault whose name contains one of these
//	                    comma-separated words ("partition", "kill -9 follower,rolling");
//	                    the draw, and so what a seed replays, depends on it
//	GOLOG_CHAOS_OUT     where to keep what a failed run leaves (default: a new directory
//	                    under the system's temporary directory)
func TestChaos3(t *testing.T) { chaosRuns(t, 3) }

// TestChaos5 is the same on five servers, where two may fail at once.
func TestChaos5(t *testing.T) { chaosRuns(t, 5) }

func chaosRuns(t *testing.T, servers int) {
	image := requireDocker(t)
	faults := envInt(t, "GOLOG_CHAOS_FAULTS", 8)
	kinds, rolling := chosenKinds(t, os.Getenv("GOLOG_CHAOS_KINDS"))
	seeds := []uint64{}
	if s := os.Getenv("GOLOG_CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GOLOG_CHAOS_SEED: %v", err)
		}
		seeds = append(seeds, seed)
	} else {
		base := uint64(time.Now().UnixNano())
		for i := range envInt(t, "GOLOG_CHAOS_RUNS", 1) {
			seeds = append(seeds, base+uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			chaosRun(t, image, servers, seed, faults, kinds, rolling)
		})
	}
}

// chosenKinds returns the kinds of fault whose name contains one of the comma-separated
// words of filter, all of them if it is empty, and whether a rolling restart may be
// drawn too.
func chosenKinds(t *testing.T, filter string) ([]faultKind, bool) {
	if filter == "" {
		return faultKinds, true
	}
	words := strings.Split(filter, ",")
	match := func(name string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return w != "" && strings.Contains(name, w) })
	}
	var kinds []faultKind
	for _, k := range faultKinds {
		if match(k.name) {
			kinds = append(kinds, k)
		}
	}
	rolling := match("rolling restart")
	if len(kinds) == 0 && !rolling {
		t.Fatalf("GOLOG_CHAOS_KINDS=%q names no kind of fault", filter)
	}
	return kinds, rolling
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, s)
	}
	return n
}

// chaosRun is one seeded schedule: a new cluster, the workload, the faults one after
// the other, each healed before the next, then the checks.
func chaosRun(t *testing.T, image string, servers int, seed uint64, faults int, kinds []faultKind, rolling bool) {
	fmt.Printf("chaos: %d servers, seed %d (replay: GOLOG_CHAOS_SEED=%d make chaos)\n", servers, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	c := newCluster(t, image, servers, rng)
	rec := history.NewRecorder()
	c.rec = rec
	w := newWorkload(c, rec)
	defer w.close()

	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx, 3, seed)
	}()
	counts := map[string]int{}
	func() {
		defer func() { stop(); <-done }()
		for range faults {
			pause(t, rng, 500*time.Millisecond, 2*time.Second)
			if drawRolling(rng, len(kinds), rolling) {
				counts["rolling restart"]++
				rec.Note("fault: rolling restart")
				fmt.Printf("chaos: %v rolling restart\n", time.Duration(rec.Now()).Round(time.Millisecond))
				if err := c.rollingRestart(rec.Note); err != nil {
					t.Fatal(err)
				}
				continue
			}
			kind := kinds[rng.IntN(len(kinds))]
			what, err := kind.inject(c, rng)
			rec.Note("fault: %s", what)
			fmt.Printf("chaos: %v %s\n", time.Duration(rec.Now()).Round(time.Millisecond), what)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			counts[kind.name]++
			pause(t, rng, time.Second, 4*time.Second)
			c.healAndWait(rec, kind.name)
		}
		pause(t, rng, time.Second, 2*time.Second)
	}()

	c.waitHealthy(2 * time.Minute)
	rctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	logs, err := w.finalLogs(rctx)
	if err != nil {
		t.Fatalf("read the servers' logs: %v", err)
	}
	h := rec.History()
	res := history.Check(h, logs, 2*time.Minute)
	fmt.Print(summary(servers, seed, counts, h, res))
	if !res.OK() {
		dir := keep(t, c, h, logs, res)
		t.Errorf("seed %d: the checks failed (kept in %s):\n%s", seed, dir, res)
	}
}

// drawRolling draws whether the next fault is a rolling restart: as likely as any one of
// the n other kinds, if it may be drawn at all.
func drawRolling(rng *rand.Rand, n int, rolling bool) bool {
	return rolling && (n == 0 || rng.IntN(n+1) == 0)
}

// healAndWait heals every fault and waits until every server is ready again. A server
// whose files were damaged may refuse to start, saying why: then, as an operator
// would, the test empties its data directory and starts it again, to catch up from the
// others.
func (c *cluster) healAndWait(rec *history.Recorder, kind string) {
	c.t.Helper()
	did, err := c.heal()
	rec.Note("heal: %s", strings.Join(did, ", "))
	if err != nil {
		c.t.Fatalf("heal: %v", err)
	}
	for _, nd := range c.nodes {
		if refused := c.waitReadyOrExit(nd, 2*time.Minute); refused != "" {
			if !strings.HasPrefix(kind, "damage") {
				c.t.Fatalf("%s exited after %s:\n%s", nd, kind, refused)
			}
			rec.Note("%s refused its damaged files; emptied its data directory", nd)
			fmt.Printf("chaos: %s refused to start on its damaged files:\n%s", nd, refused)
			c.wipe(nd)
			if err := c.start(nd); err != nil {
				c.t.Fatal(err)
			}
			c.waitReady(nd, 2*time.Minute)
		}
	}
}

// waitReadyOrExit waits until nd is ready, and returns "" then; or until its container
// has exited, and returns the end of its log.
func (c *cluster) waitReadyOrExit(nd *node, timeout time.Duration) string {
	c.t.Helper()
	var exited string
	err := c.poll(timeout, func(ctx context.Context) error {
		if running, _ := docker("inspect", "-f", "{{.State.Running}}", nd.container); running == "false" {
			exited = c.logsTail(nd)
			return nil
		}
		_, err := c.readyz(ctx, nd)
		return err
	})
	if err != nil {
		c.t.Fatalf("%s neither ready nor stopped after %v: %v\n%s", nd, timeout, err, c.keepLogs())
	}
	return exited
}

// wipe empties nd's data directory.
func (c *cluster) wipe(nd *node) {
	c.t.Helper()
	entries, err := os.ReadDir(nd.dataDir)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(nd.dataDir, e.Name())); err != nil {
			c.t.Fatal(err)
		}
	}
}

// pause waits between lo and hi, drawn with rng: the rhythm of the schedule.
func pause(t *testing.T, rng *rand.Rand, lo, hi time.Duration) {
	d := lo + time.Duration(rng.Int64N(int64(hi-lo)))
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}

// summary is the table printed after each run.
func summary(servers int, seed uint64, counts map[string]int, h history.History, res history.Result) string {
	s := res.Stats
	var faults []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		faults = append(faults, fmt.Sprintf("%s %d", k, counts[k]))
	}
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "NO"
	}
	linearizable := len(res.Reports) > 2 && res.Reports[2].OK()
	var b strings.Builder
	fmt.Fprintf(&b, "\nchaos summary, seed %d\n", seed)
	row := func(k, format string, args ...any) { fmt.Fprintf(&b, "  %-24s %s\n", k, fmt.Sprintf(format, args...)) }
	row("servers", "%d", servers)
	row("faults", "%s", strings.Join(faults, ", "))
	row("operations", "%d (%d appends, %d reads)", len(h.Ops), s.Appends, s.Reads)
	row("acknowledged", "%d", s.Acknowledged)
	row("refused (not applied)", "%d", s.Refused)
	row("unknown outcome", "%d (%d landed once, the rest absent)", s.Unknown, s.Landed)
	row("reads found / not found", "%d / %d", s.ReadsFound, s.ReadsNotFound)
	row("lost", "%d", s.Lost)
	row("duplicated", "%d", s.Duplicated)
	row("linearizable", "%s", yes(linearizable))
	row("longest unavailability", "%v", s.LongestUnavailable.Round(time.Millisecond))
	row("checks", "%s", yes(res.OK()))
	b.WriteString(res.String() + "\n")
	return b.String()
}

// keep saves what a failed run leaves: the history, porcupine's view of it, the
// servers' logs and the containers' logs. It returns the directory.
func keep(t *testing.T, c *cluster, h history.History, logs []history.Log, res history.Result) string {
	dir := os.Getenv("GOLOG_CHAOS_OUT")
	if dir == "" {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, c.prefix)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("keep the run: %v", err)
		return dir
	}
	for _, err := range []error{
		h.Save(filepath.Join(dir, "history.json")),
		res.Linearization.Visualize(filepath.Join(dir, "history.html")),
		saveJSON(filepath.Join(dir, "logs.json"), logs),
		c.saveLogs(dir),
	} {
		if err != nil {
			t.Errorf("keep the run: %v", err)
		}
	}
	return dir
}
