package main

import (
	"regexp"
	"strings"
	"testing"
)

const readme = "# %s · Stage\n\n## The idea\n\n## What changed since\n\n## Run it\n\n## Read the code\n\n## Exercises\n\n## Going further\n"

// minimalStage returns a minimal stage whose test package defines -debug when withFlag.
func minimalStage(number string, withFlag bool) map[string]string {
	test := "package a\n\nimport \"testing\"\n\nfunc TestA(t *testing.T) {}\n"
	if withFlag {
		test = "package a\n\nimport (\n\t\"flag\"\n\t\"testing\"\n)\n\nvar debug = flag.Bool(\"debug\", false, \"debug output\")\n\nfunc TestA(t *testing.T) { _ = *debug }\n"
	}
	return map[string]string{
		"go.mod":      "module golog\n\ngo 1.26.0\n",
		"README.md":   strings.Replace(readme, "%s", number, 1),
		"a/a.go":      "package a\n\n// A is a.\nfunc A() int { return 1 }\n",
		"a/a_test.go": test,
	}
}

func inStage(stage string, files map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		out[stage+"/"+k] = v
	}
	return out
}

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet and go test on small modules")
	}
	files := inStage("01-a", minimalStage("01", true))
	for k, v := range inStage("02-b", minimalStage("02", false)) {
		files[k] = v
	}
	files["02-b/a/a.go"] = "package a\n\n// A is a.\nfunc A() int {  return 2 }\n"
	files["02-b/changes.txt"] = "M a/a.go  # returns 2\n"
	root := newRepo(t, files)

	var stdout, stderr strings.Builder
	code := run([]string{"-root", root}, &stdout, &stderr)

	timing := regexp.MustCompile(`(\t[0-9.]+s| \([0-9.]+s\))$`)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	for i := range lines {
		lines[i] = timing.ReplaceAllString(lines[i], "")
	}
	requireLines(t, []string{
		"ok 01-a",
		"02-b: changes.txt: drift: M a/a_test.go not declared",
		"02-b: gofmt: a/a.go is not formatted (run gofmt -w a/a.go)",
		"02-b: go test -debug=true: flag provided but not defined: -debug",
		"02-b: go test -debug=true: FAIL\tgolog/a",
		"FAIL 02-b",
		"stagecheck: 1 of 2 stages failed",
	}, lines)
	if code != 1 || stderr.Len() != 0 {
		t.Errorf("run = %d, stderr %q; want 1 and no stderr", code, stderr.String())
	}

	stdout.Reset()
	if code := run([]string{"-root", root, "-only", "01"}, &stdout, &stderr); code != 0 {
		t.Errorf("run -only 01 = %d; want 0\n%s", code, stdout.String())
	}
}

func TestRunWithoutStages(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"-root", t.TempDir()}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d; want 0 (stderr %q)", code, stderr.String())
	}
	if want := "stagecheck: no stage folders (NN-name) yet; nothing to check\n"; stdout.String() != want {
		t.Errorf("output = %q; want %q", stdout.String(), want)
	}
}
