// Stagecheck verifies that the stage folders of the golog workbook keep the workbook's rules.
//
// A stage is a directory at the repository root named NN-name (01-log, 02-protobuf, ...).
// Stages are checked in name order, and for each one stagecheck verifies that:
//
//   - go.mod declares module golog, with the same go line as every other stage, no
//     toolchain line, and the same version of each dependency that several stages require;
//   - README.md has the workbook's headings, in order (see readmeSections);
//   - changes.txt lists exactly how the stage differs from the previous one (below);
//   - gofmt -l prints nothing, go vet ./... is clean, and go test ./... -run '^$' -debug=true
//     succeeds, so every test package of the stage accepts -debug.
//
// # changes.txt
//
// A stage's changes.txt declares how the stage differs from the previous one, one file
// per line:
//
//	A internal/discovery/membership.go  # Serf membership: join, leave, events
//	M internal/log/record.go            # Record is now the protobuf message
//	D internal/log/record_json.go       # replaced by generated code
//
// A is a file added, M a file whose bytes changed, D a file removed. The "# why" is
// required; blank lines and lines starting with # are comments. Paths are relative to
// the stage, with forward slashes.
//
// Only files that git sees are compared: tracked, or untracked but not ignored
// (git ls-files --cached --others --exclude-standard). The stage's own README.md,
// changes.txt and go.sum are never compared. A real difference that changes.txt does not
// declare is drift; a declared change that did not happen is stale. The first stage is
// compared against nothing, so every file it lists is A; it may also go without a
// changes.txt.
//
// # Output
//
// It prints one line per problem, prefixed with the stage, then "ok STAGE (time)" or
// "FAIL STAGE (time)", and exits with status 1 if any stage failed.
//
// Usage:
//
//	stagecheck [-root DIR] [-only STAGE]
//	stagecheck propagate [-root DIR] -from STAGE FILE
//	stagecheck diff [-root DIR] [-all] STAGE_A STAGE_B
//	stagecheck tour [-root DIR] STAGE
//	stagecheck transcripts [-root DIR] [-only STAGE] [-update]
//
// propagate carries a change of FILE in stage FROM forward (see propagate.go); diff
// shows what stage B adds to stage A, a summary first (diff.go); tour lists a stage's
// files in reading order (tour.go); transcripts runs the commands whose output a
// README shows and compares (transcripts.go).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "propagate":
			return runPropagate(args[1:], stdout, stderr)
		case "diff":
			return runDiff(args[1:], stdout, stderr)
		case "tour":
			return runTour(args[1:], stdout, stderr)
		case "transcripts":
			return runTranscripts(args[1:], stdout, stderr)
		}
	}
	flags := flag.NewFlagSet("stagecheck", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", "", "repository root (default: the git work tree of the current directory)")
	only := flags.String("only", "", "check only this stage, by name (03-grpc) or number (03)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "stagecheck: unexpected arguments %q\n", flags.Args())
		return 2
	}
	stages, err := loadStages(*root)
	if err != nil {
		fmt.Fprintf(stderr, "stagecheck: %v\n", err)
		return 2
	}
	if len(stages) == 0 {
		fmt.Fprintln(stdout, "stagecheck: no stage folders (NN-name) yet; nothing to check")
		return 0
	}
	onlyAt := -1
	if *only != "" {
		if onlyAt = findStage(stages, *only); onlyAt < 0 {
			fmt.Fprintf(stderr, "stagecheck: no stage %q\n", *only)
			return 2
		}
	}

	modProblems := checkGoMods(stages)
	checked, failed := 0, 0
	for i, s := range stages {
		if onlyAt >= 0 && i != onlyAt {
			continue
		}
		start := time.Now()
		var prev *stage
		if i > 0 {
			prev = &stages[i-1]
		}
		problems := modProblems[s.name]
		problems = append(problems, checkReadme(s)...)
		problems = append(problems, checkChanges(prev, s)...)
		problems = append(problems, goChecks(s.dir)...)

		for _, p := range problems {
			fmt.Fprintf(stdout, "%s: %s\n", s.name, p)
		}
		status := "ok"
		if len(problems) > 0 {
			status = "FAIL"
			failed++
		}
		checked++
		fmt.Fprintf(stdout, "%s %s (%.1fs)\n", status, s.name, time.Since(start).Seconds())
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "stagecheck: %d of %d stages failed\n", failed, checked)
		return 1
	}
	return 0
}
