package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPropagate(t *testing.T) {
	const (
		old   = "package testenv // old\n"
		fixed = "package testenv // fixed\n"
		own   = "package testenv // 04 needs more\n"
	)
	root := newRepo(t, map[string]string{
		"01-a/internal/testenv/testenv.go": old,
		"02-b/internal/testenv/testenv.go": old,
		"03-c/internal/testenv/testenv.go": fixed,
		"04-d/internal/testenv/testenv.go": own,
		"05-e/internal/testenv/testenv.go": old,
	})
	gitRun(t, root, "add", "-A")
	gitRun(t, root, "commit", "-q", "-m", "stages")
	writeTree(t, root, map[string]string{"01-a/internal/testenv/testenv.go": fixed})

	var out strings.Builder
	if err := propagate(stagesOf(t, root), 0, "internal/testenv/testenv.go", &out); err != nil {
		t.Fatal(err)
	}

	requireLines(t, []string{
		"updated 02-b/internal/testenv/testenv.go",
		"already fixed 03-c/internal/testenv/testenv.go",
		"stop at 04-d/internal/testenv/testenv.go: it differs from 01-a's committed copy; carry the fix there by hand",
		"1 later copies updated",
	}, strings.Split(strings.TrimSpace(out.String()), "\n"))
	for stage, want := range map[string]string{"02-b": fixed, "03-c": fixed, "04-d": own, "05-e": old} {
		got, err := os.ReadFile(filepath.Join(root, stage, "internal/testenv/testenv.go"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s copy = %q; want %q", stage, got, want)
		}
	}
}

func TestPropagateUnchanged(t *testing.T) {
	root := newRepo(t, map[string]string{"01-a/f.go": "package f\n", "02-b/f.go": "package f\n"})
	gitRun(t, root, "add", "-A")
	gitRun(t, root, "commit", "-q", "-m", "stages")

	var out strings.Builder
	if err := propagate(stagesOf(t, root), 0, "f.go", &out); err != nil {
		t.Fatal(err)
	}
	if want := "01-a/f.go is unchanged since HEAD; nothing to carry forward\n"; out.String() != want {
		t.Errorf("output = %q; want %q", out.String(), want)
	}
}
