package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// A README shows what its tour prints, in a fenced block that starts with the command:
//
//	```
//	$ cd 07-raft && go test -v -run Tour
//	    stage_test.go:48: three servers; ...
//	```
//
// runTranscripts runs the command of each such block (a block whose first line is
// "$ cd STAGE && go test ...", with -count=1 added) in its stage and compares what it
// prints with the block, so a README cannot drift from its tour. With -update it writes
// what the command printed into the block instead.
//
// The comparison ignores what differs from run to run (see normalize): ports, times,
// durations, temporary paths. It takes the lines in any order, since goroutines log in
// an order no run repeats. In the README, "…" stands for any text: a line that varies
// (an offset that depends on timing) is written with "…" where it varies, and -update
// keeps such a line wherever it still matches. go test's own lines (=== RUN, --- PASS,
// PASS, ok) are not compared, and the README may show or leave them.
func runTranscripts(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("stagecheck transcripts", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", "", "repository root (default: the git work tree of the current directory)")
	only := flags.String("only", "", "check only this stage, by name (03-grpc) or number (03)")
	update := flags.Bool("update", false, "write what the commands print into the READMEs")
	timeout := flags.Duration("timeout", 5*time.Minute, "the longest one command may run")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	stages, err := loadStages(*root)
	if err != nil {
		fmt.Fprintf(stderr, "transcripts: %v\n", err)
		return 2
	}
	if *only != "" {
		i := findStage(stages, *only)
		if i < 0 {
			fmt.Fprintf(stderr, "transcripts: no stage %q\n", *only)
			return 2
		}
		stages = stages[i : i+1]
	}
	status := 0
	for _, s := range stages {
		problems, err := checkTranscripts(s, *update, *timeout)
		if err != nil {
			problems = append(problems, err.Error())
		}
		for _, p := range problems {
			fmt.Fprintf(stdout, "%s: %s\n", s.name, p)
		}
		if len(problems) > 0 {
			fmt.Fprintf(stdout, "FAIL %s transcripts\n", s.name)
			status = 1
		} else {
			fmt.Fprintf(stdout, "ok %s transcripts\n", s.name)
		}
	}
	return status
}

// A transcript is a README block that shows a command and its output.
type transcript struct {
	start, end int      // the block's lines, fences excluded: lines[start:end]
	command    string   // after "$ cd STAGE && "
	shown      []string // the output lines the README shows
}

// findTranscripts returns the transcripts of the README lines of stage name.
func findTranscripts(lines []string, name string) []transcript {
	var ts []transcript
	prefix := "$ cd " + name + " && go test "
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```" || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], prefix) {
			continue
		}
		end := i + 2
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		ts = append(ts, transcript{
			start:   i + 1,
			end:     end,
			command: strings.TrimPrefix(lines[i+1], "$ cd "+name+" && "),
			shown:   lines[i+2 : end],
		})
		i = end
	}
	return ts
}

// checkTranscripts runs the transcripts of s, and compares or, with update, rewrites.
func checkTranscripts(s stage, update bool, timeout time.Duration) ([]string, error) {
	path := filepath.Join(s.dir, "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	ts := findTranscripts(lines, s.name)
	var problems []string
	// Back to front, so that rewriting a block leaves the line numbers of the ones
	// before it alone.
	for i := len(ts) - 1; i >= 0; i-- {
		t := ts[i]
		printed, err := runTranscriptCommand(s.dir, t.command, timeout)
		if err != nil {
			problems = append(problems, fmt.Sprintf("README.md:%d: %s: %v", t.start+1, t.command, err))
			continue
		}
		if update {
			block := append([]string{lines[t.start]}, updatedBlock(t.shown, printed)...)
			lines = append(lines[:t.start], append(block, lines[t.end:]...)...)
			continue
		}
		for _, p := range compareTranscript(t.shown, printed) {
			problems = append(problems, fmt.Sprintf("README.md:%d: %s: %s", t.start+1, t.command, p))
		}
	}
	if update {
		return problems, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
	}
	return problems, nil
}

// runTranscriptCommand runs command, a "go test ..." line, in dir with -count=1, and
// returns the lines it printed.
func runTranscriptCommand(dir, command string, timeout time.Duration) ([]string, error) {
	fields := strings.Fields(command)
	if len(fields) < 2 || fields[0] != "go" || fields[1] != "test" {
		return nil, fmt.Errorf("not a go test command")
	}
	args := append([]string{"test", "-count=1"}, fields[2:]...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), nil
}

var (
	timeAttr    = regexp.MustCompile(`time=\S+`)
	duration    = regexp.MustCompile(`\(\d+(\.\d+)?s\)`)
	loopbackTCP = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):\d+`)
	tempDir     = regexp.MustCompile(`(golog-[A-Za-z0-9_]+-)\d+`)
)

// normalize replaces what changes from run to run in a line of output with "…", or
// PORT for a port. Both the README's lines and the printed ones go through it.
func normalize(line string) string {
	line = strings.ReplaceAll(line, strings.TrimSuffix(os.TempDir(), "/")+"/", "/tmp/")
	line = timeAttr.ReplaceAllString(line, "time=…")
	line = duration.ReplaceAllString(line, "(…)")
	line = loopbackTCP.ReplaceAllString(line, "$1:PORT")
	line = tempDir.ReplaceAllString(line, "${1}…")
	return strings.TrimRight(line, " \t")
}

// goTestLine reports whether line is go test's own, not the test's: these are not
// compared.
func goTestLine(line string) bool {
	for _, p := range []string{"=== ", "--- PASS", "PASS", "ok  \t", "ok \t"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// pattern returns a matcher for a README line: "…" matches any text.
func pattern(shown string) *regexp.Regexp {
	parts := strings.Split(normalize(shown), "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// matchLines pairs the README's lines (shown) with printed lines they match, each
// printed line used once. It returns, for each printed line, the index of the README
// line it matched or -1, and the README lines nothing matched.
func matchLines(shown, printed []string) (matchOf []int, unmatched []int) {
	matchOf = make([]int, len(printed))
	for i := range matchOf {
		matchOf[i] = -1
	}
	for si, s := range shown {
		if goTestLine(s) {
			continue
		}
		re := pattern(s)
		found := false
		for pi, p := range printed {
			if matchOf[pi] < 0 && !goTestLine(p) && re.MatchString(normalize(p)) {
				matchOf[pi], found = si, true
				break
			}
		}
		if !found {
			unmatched = append(unmatched, si)
		}
	}
	return matchOf, unmatched
}

// compareTranscript returns one problem per line shown but not printed, or printed but
// not shown.
func compareTranscript(shown, printed []string) []string {
	matchOf, unmatched := matchLines(shown, printed)
	var problems []string
	for _, si := range unmatched {
		problems = append(problems, fmt.Sprintf("shown, not printed: %q", shown[si]))
	}
	for pi, p := range printed {
		if matchOf[pi] < 0 && !goTestLine(p) {
			problems = append(problems, fmt.Sprintf("printed, not shown: %q", p))
		}
	}
	return problems
}

// updatedBlock returns the output lines to show: what was printed, in its order, with
// times and temporary paths elided, and each line the README already matched kept as
// the README has it. go test's RUN and PASS lines for tests are kept, its summary lines
// are not.
func updatedBlock(shown, printed []string) []string {
	matchOf, _ := matchLines(shown, printed)
	var out []string
	for pi, p := range printed {
		switch {
		case matchOf[pi] >= 0:
			out = append(out, shown[matchOf[pi]])
		case strings.HasPrefix(p, "=== RUN") || strings.HasPrefix(p, "--- PASS"):
			out = append(out, duration.ReplaceAllString(p, "(…)"))
		case goTestLine(p):
		default:
			p = strings.ReplaceAll(p, strings.TrimSuffix(os.TempDir(), "/")+"/", "/tmp/")
			p = timeAttr.ReplaceAllString(p, "time=…")
			out = append(out, tempDir.ReplaceAllString(p, "${1}…"))
		}
	}
	return out
}
