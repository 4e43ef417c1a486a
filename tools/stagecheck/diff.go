package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// runDiff prints what stage B adds to stage A: first a summary, one line per file added
// (A), changed (M) or removed (D), then the unified diff of each of those files. Generated
// code (*.pb.go) and go.sum are left out unless -all is given: they are long and say
// nothing a learner reads. Only files git sees are compared, as for changes.txt, but the
// READMEs and changes.txt are compared too.
func runDiff(args []string, stdout, stderr io.Writer) int {
	// make diff | head: let writes to a closed pipe fail (and stop the diff quietly)
	// instead of killing the process.
	signal.Ignore(syscall.SIGPIPE)
	flags := flag.NewFlagSet("stagecheck diff", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", "", "repository root (default: the git work tree of the current directory)")
	all := flags.Bool("all", false, "include generated code (*.pb.go) and go.sum")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: stagecheck diff [-root DIR] [-all] STAGE_A STAGE_B")
		return 2
	}
	stages, err := loadStages(*root)
	if err != nil {
		fmt.Fprintf(stderr, "diff: %v\n", err)
		return 2
	}
	var pair [2]stage
	for i, name := range flags.Args() {
		j := findStage(stages, name)
		if j < 0 {
			fmt.Fprintf(stderr, "diff: no stage %q\n", name)
			return 2
		}
		pair[i] = stages[j]
	}
	changes, err := stageDiff(pair[0], pair[1], *all)
	if err != nil {
		fmt.Fprintf(stderr, "diff: %v\n", err)
		return 1
	}
	if err := printDiff(stdout, pair[0], pair[1], changes, *all); err != nil {
		if errors.Is(err, errOutputClosed) {
			return 0 // make diff | head: the reader has what it wanted
		}
		fmt.Fprintf(stderr, "diff: %v\n", err)
		return 1
	}
	return 0
}

// errOutputClosed says the reader of the output went away (a broken pipe).
var errOutputClosed = errors.New("output closed")

// diffHidden reports whether the diff leaves file out unless -all: generated code and
// go.sum.
func diffHidden(file string) bool {
	return path.Base(file) == "go.sum" || strings.HasSuffix(file, ".pb.go")
}

// stageDiff returns the changes from stage a to stage b, sorted by path.
func stageDiff(a, b stage, all bool) ([]change, error) {
	var files [2]map[string]bool
	for i, s := range []stage{a, b} {
		out, err := git(s.dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
		if err != nil {
			return nil, err
		}
		files[i] = map[string]bool{}
		for _, p := range strings.Split(out, "\x00") {
			if p == "" || (!all && diffHidden(p)) {
				continue
			}
			if _, err := os.Lstat(filepath.Join(s.dir, filepath.FromSlash(p))); err == nil {
				files[i][p] = true
			}
		}
	}
	return diffStages(a.dir, files[0], b.dir, files[1])
}

// printDiff writes the summary of changes and then their unified diffs.
func printDiff(w io.Writer, a, b stage, changes []change, all bool) error {
	counts := map[byte]int{}
	for _, c := range changes {
		counts[c.op]++
	}
	hidden := ""
	if !all {
		hidden = "; *.pb.go and go.sum left out (ALL=1 shows them)"
	}
	fmt.Fprintf(w, "%s -> %s: %d added, %d changed, %d removed%s\n",
		a.name, b.name, counts['A'], counts['M'], counts['D'], hidden)
	ordered := append([]change(nil), changes...)
	opOrder := map[byte]int{'A': 0, 'M': 1, 'D': 2}
	sort.SliceStable(ordered, func(i, j int) bool { return opOrder[ordered[i].op] < opOrder[ordered[j].op] })
	for _, c := range ordered {
		fmt.Fprintf(w, "  %s\n", c)
	}
	for _, c := range changes {
		fmt.Fprintln(w)
		from, to := filepath.Join(a.dir, filepath.FromSlash(c.path)), filepath.Join(b.dir, filepath.FromSlash(c.path))
		switch c.op {
		case 'A':
			from = os.DevNull
		case 'D':
			to = os.DevNull
		}
		cmd := exec.Command("diff", "-u", "--label", a.name+"/"+c.path, "--label", b.name+"/"+c.path, from, to)
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) { // 1: the files differ
			return fmt.Errorf("diff %s: %w", c.path, err)
		}
		if _, err := w.Write(out); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return errOutputClosed
			}
			return err
		}
	}
	return nil
}
