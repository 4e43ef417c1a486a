package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStageDiffHidesGeneratedCode(t *testing.T) {
	root := newRepo(t, map[string]string{
		"01-a/go.mod":         "module golog\n",
		"01-a/go.sum":         "x v1\n",
		"01-a/log.go":         "package log\n",
		"01-a/old.go":         "package log\n",
		"02-b/go.mod":         "module golog\n",
		"02-b/go.sum":         "x v1\ny v2\n",
		"02-b/log.go":         "package log // changed\n",
		"02-b/api/v1/x.pb.go": "package v1\n",
		"02-b/new.go":         "package log\n",
	})
	stages := stagesOf(t, root)
	for _, tt := range []struct {
		name string
		all  bool
		want []string
	}{
		{"by default", false, []string{"D old.go", "M log.go", "A new.go"}},
		{"with -all", true, []string{"A api/v1/x.pb.go", "M go.sum", "D old.go", "M log.go", "A new.go"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			changes, err := stageDiff(stages[0], stages[1], tt.all)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, c.String())
			}
			requireLines(t, sortedByPath(tt.want), got)
		})
	}
}

// sortedByPath orders "OP path" lines by path, as diffStages does.
func sortedByPath(lines []string) []string {
	out := append([]string(nil), lines...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j][2:] < out[i][2:] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestPrintDiffSummaryFirst(t *testing.T) {
	root := newRepo(t, map[string]string{
		"01-a/log.go": "package log\n",
		"02-b/log.go": "package log // changed\n",
		"02-b/new.go": "package log\n",
	})
	stages := stagesOf(t, root)
	var out bytes.Buffer
	if code := run([]string{"diff", "-root", root, "01", "02"}, &out, &out); code != 0 {
		t.Fatalf("diff exited with %d:\n%s", code, out.String())
	}
	lines := strings.Split(out.String(), "\n")
	requireLines(t, []string{
		"01-a -> 02-b: 1 added, 1 changed, 0 removed; *.pb.go and go.sum left out (ALL=1 shows them)",
		"  A new.go",
		"  M log.go",
	}, lines[:3])
	for _, want := range []string{"--- 01-a/log.go", "+++ 02-b/log.go", "+package log // changed", "+++ 02-b/new.go"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the diff has no line %q:\n%s", want, out.String())
		}
	}
	_ = stages
}

func TestReadingOrder(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"internal/log/doc.go":      "package log\n",
		"internal/log/log.go":      "package log\n\nfunc A() {}\n",
		"internal/log/log_test.go": "package log\n",
		"internal/agent/agent.go":  "package agent\n",
		"internal/agent/voters.go": "package agent\n",
	})
	readme := "# 07 · X\n\n## Read the code\n\n" +
		"1. `internal/log/doc.go` — the idea; `NewLog` is not a file.\n" +
		"2. `internal/log/log.go`, `log_test.go` — bare names are in the folder named before.\n" +
		"   `internal/agent/agent.go` is on a continuation line, not an item: skipped.\n\n" +
		"Hardening, to read later:\n\n" +
		"3. `internal/agent/agent.go`, `voters.go` — later.\n" +
		"4. `internal/log/doc.go` — named twice, listed once.\n\n" +
		"## Exercises\n\n1. `internal/agent/voters.go` — not in the section.\n"
	var got []string
	for _, s := range readingOrder(readme, dir) {
		mark := "core"
		if s.hardening {
			mark = "hardening"
		}
		got = append(got, mark+" "+s.file)
	}
	requireLines(t, []string{
		"core internal/log/doc.go",
		"core internal/log/log.go",
		"core internal/log/log_test.go",
		"hardening internal/agent/agent.go",
		"hardening internal/agent/voters.go",
	}, got)
}

func TestNormalize(t *testing.T) {
	tmp := strings.TrimSuffix(os.TempDir(), "/")
	for _, tt := range []struct{ in, want string }{
		{"    time=2026-12-06T13:53:44.841Z level=DEBUG msg=x", "    time=… level=DEBUG msg=x"},
		{"--- PASS: TestTour (0.26s)", "--- PASS: TestTour (…)"},
		{"gRPC on 127.0.0.1:45437, gossip on 127.0.0.1:46461", "gRPC on 127.0.0.1:PORT, gossip on 127.0.0.1:PORT"},
		{"rpc a.example:8400", "rpc a.example:8400"},
		{"kept: " + tmp + "/golog-TestTour-4022128513", "kept: /tmp/golog-TestTour-…"},
		{"trailing spaces   ", "trailing spaces"},
	} {
		if got := normalize(tt.in); got != tt.want {
			t.Errorf("normalize(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompareTranscript(t *testing.T) {
	printed := []string{
		"=== RUN   TestTour",
		"    stage_test.go:10: a on 127.0.0.1:40001",
		"    stage_test.go:12: b: offset 1: AA",
		"    stage_test.go:11: a: offset 0: BB",
		"--- PASS: TestTour (0.02s)",
		"PASS",
		"ok  \tgolog\t0.1s",
	}
	for _, tt := range []struct {
		name  string
		shown []string
		want  []string
	}{
		{"in another order, other ports, with a wildcard", []string{
			"    stage_test.go:11: a: offset 0: BB",
			"    stage_test.go:10: a on 127.0.0.1:39999",
			"    stage_test.go:12: b: offset …: AA",
		}, nil},
		{"go test's own lines are neither needed nor compared", []string{
			"=== RUN   TestOther",
			"    stage_test.go:10: a on 127.0.0.1:1",
			"    stage_test.go:11: a: offset 0: BB",
			"    stage_test.go:12: b: offset 1: AA",
			"--- PASS: TestOther (9.99s)",
		}, nil},
		{"a line trimmed, a line drifted", []string{
			"    stage_test.go:10: a on 127.0.0.1:1",
			"    stage_test.go:12: b: offset 1: BB",
		}, []string{
			`shown, not printed: "    stage_test.go:12: b: offset 1: BB"`,
			`printed, not shown: "    stage_test.go:12: b: offset 1: AA"`,
			`printed, not shown: "    stage_test.go:11: a: offset 0: BB"`,
		}},
		{"one printed line matches one shown line only", []string{
			"    stage_test.go:10: a on 127.0.0.1:1",
			"    stage_test.go:10: a on 127.0.0.1:1",
			"    stage_test.go:1…",
			"    stage_test.go:1…",
		}, []string{
			`shown, not printed: "    stage_test.go:10: a on 127.0.0.1:1"`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireLines(t, tt.want, compareTranscript(tt.shown, printed))
		})
	}
}

func TestUpdatedBlockKeepsMatchingLines(t *testing.T) {
	shown := []string{
		"    stage_test.go:10: a on 127.0.0.1:39999",
		"    stage_test.go:12: b: offset …: AA",
		"    stage_test.go:99: gone",
	}
	printed := []string{
		"=== RUN   TestTour",
		"    stage_test.go:10: a on 127.0.0.1:40001",
		"    stage_test.go:12: b: offset 1: AA",
		"    time=2026-12-06T13:53:44.841Z level=INFO msg=new",
		"--- PASS: TestTour (0.02s)",
		"PASS",
		"ok  \tgolog\t0.1s",
	}
	requireLines(t, []string{
		"=== RUN   TestTour",
		"    stage_test.go:10: a on 127.0.0.1:39999",
		"    stage_test.go:12: b: offset …: AA",
		"    time=… level=INFO msg=new",
		"--- PASS: TestTour (…)",
	}, updatedBlock(shown, printed))
}

func TestFindTranscripts(t *testing.T) {
	readme := strings.Join([]string{
		"## Run it",
		"```",
		"$ cd 03-x && go test -v -run Tour",
		"    stage_test.go:1: one",
		"```",
		"```",
		"$ cd 03-x && go run ./cmd/server",
		"not a transcript: not go test",
		"```",
		"```",
		"cd internal/log && go test -v",
		"```",
	}, "\n")
	ts := findTranscripts(strings.Split(readme, "\n"), "03-x")
	if len(ts) != 1 {
		t.Fatalf("found %d transcripts, want 1: %+v", len(ts), ts)
	}
	if ts[0].command != "go test -v -run Tour" || len(ts[0].shown) != 1 || ts[0].start != 2 || ts[0].end != 4 {
		t.Errorf("transcript = %+v", ts[0])
	}
}

func TestTranscriptsUpdateThenCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in a new module")
	}
	root := newRepo(t, map[string]string{
		"01-a/go.mod": "module golog\n\ngo 1.26\n",
		"01-a/stage_test.go": "package golog\n\nimport \"testing\"\n\n" +
			"func TestTour(t *testing.T) { t.Log(\"the tour says this\") }\n",
		"01-a/README.md": "# 01 · A\n\n## Run it\n\n```\n$ cd 01-a && go test -v -run Tour\n    stage_test.go:5: stale\n```\n",
	})
	var out bytes.Buffer
	if code := run([]string{"transcripts", "-root", root}, &out, &out); code != 1 {
		t.Fatalf("a stale transcript: exit %d, want 1:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), `shown, not printed: "    stage_test.go:5: stale"`) {
		t.Errorf("no problem reported for the stale line:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"transcripts", "-root", root, "-update"}, &out, &out); code != 0 {
		t.Fatalf("-update: exit %d:\n%s", code, out.String())
	}
	readme, err := os.ReadFile(filepath.Join(root, "01-a", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "    stage_test.go:5: the tour says this\n") {
		t.Errorf("README after -update:\n%s", readme)
	}
	out.Reset()
	if code := run([]string{"transcripts", "-root", root}, &out, &out); code != 0 {
		t.Fatalf("after -update: exit %d:\n%s", code, out.String())
	}
}
