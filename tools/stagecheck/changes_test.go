package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseChanges(t *testing.T) {
	tests := []struct {
		name         string
		text         string
		wantDecls    []string
		wantProblems []string
	}{
		{
			name:      "comments blank lines and CRLF",
			text:      "# header\n\nA internal/a.go  # new\r\nM b.go # changed\n  D c/d.go #gone\n",
			wantDecls: []string{"A internal/a.go", "M b.go", "D c/d.go"},
		},
		{
			name:         "unknown kind",
			text:         "R a.go  # renamed\n",
			wantProblems: []string{`changes.txt:1: want "A|M|D path  # why", got "R a.go  # renamed"`},
		},
		{
			name:         "no path",
			text:         "\nA  # nothing\n",
			wantProblems: []string{`changes.txt:2: want "A|M|D path  # why", got "A  # nothing"`},
		},
		{
			name:         "no why",
			text:         "M a.go\nM b.go #\n",
			wantProblems: []string{"changes.txt:1: M a.go: say why after a #", "changes.txt:2: M b.go: say why after a #"},
		},
		{
			name: "unclean paths",
			text: "A ./a.go # x\nA ../a.go # x\nA /a.go # x\nA internal/ # x\n",
			wantProblems: []string{
				`changes.txt:1: "./a.go" is not a clean path relative to the stage`,
				`changes.txt:2: "../a.go" is not a clean path relative to the stage`,
				`changes.txt:3: "/a.go" is not a clean path relative to the stage`,
				`changes.txt:4: "internal/" is not a clean path relative to the stage`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decls, problems := parseChanges([]byte(tt.text))
			var got []string
			for _, d := range decls {
				got = append(got, d.String())
			}
			requireLines(t, tt.wantDecls, got)
			requireLines(t, tt.wantProblems, problems)
		})
	}
}

func TestCheckChanges(t *testing.T) {
	base := map[string]string{
		".gitignore":          "data/\n",
		"01-a/go.mod":         "module golog\n",
		"01-a/go.sum":         "x v1\n",
		"01-a/README.md":      "# 01 · A\n",
		"01-a/keep.go":        "package keep\n",
		"01-a/fix.go":         "package fix\n",
		"01-a/old/gone.go":    "package old\n",
		"02-b/go.mod":         "module golog\n",
		"02-b/go.sum":         "x v1\ny v2\n",
		"02-b/README.md":      "# 02 · B\n",
		"02-b/keep.go":        "package keep\n",
		"02-b/fix.go":         "package fix // changed\n",
		"02-b/new/new.go":     "package new\n",
		"02-b/data/000.store": "ignored by git\n",
	}
	tests := []struct {
		name    string
		changes string // 02-b/changes.txt; "" means no file
		want    []string
	}{
		{
			name:    "exact",
			changes: "# 02-b against 01-a\nM fix.go  # changed\nA new/new.go  # new\nD old/gone.go  # gone\n",
		},
		{
			name:    "missing",
			changes: "",
			want:    []string{"changes.txt: missing (it lists the difference from 01-a)"},
		},
		{
			name:    "drift",
			changes: "A new/new.go  # new\n",
			want: []string{
				"changes.txt: drift: M fix.go not declared",
				"changes.txt: drift: D old/gone.go not declared",
			},
		},
		{
			name:    "stale",
			changes: "M fix.go  # changed\nA new/new.go  # new\nD old/gone.go  # gone\nM keep.go  # not really\nA never.go  # not really\n",
			want: []string{
				"changes.txt:4: stale: M keep.go declared, but the file is the same as in 01-a",
				"changes.txt:5: stale: A never.go declared, but there is no such file",
			},
		},
		{
			name:    "wrong kind",
			changes: "A fix.go  # changed\nA new/new.go  # new\nM old/gone.go  # gone\n",
			want: []string{
				"changes.txt:1: drift: A fix.go declared, but the change is M fix.go",
				"changes.txt:3: drift: M old/gone.go declared, but the change is D old/gone.go",
			},
		},
		{
			name:    "duplicate and not compared",
			changes: "M fix.go  # changed\nA new/new.go  # new\nD old/gone.go  # gone\nM fix.go  # again\nM go.sum  # deps\n",
			want: []string{
				"changes.txt:4: fix.go is declared again (first on line 1)",
				"changes.txt:5: go.sum is never compared; drop the line",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range base {
				files[k] = v
			}
			if tt.changes != "" {
				files["02-b/changes.txt"] = tt.changes
			}
			stages := stagesOf(t, newRepo(t, files))
			requireLines(t, tt.want, checkChanges(&stages[0], stages[1]))
		})
	}
}

func TestCheckChangesFirstStage(t *testing.T) {
	tests := []struct {
		name    string
		changes string
		want    []string
	}{
		{name: "may go without changes.txt"},
		{name: "every file is added", changes: "A a.go  # a\nA go.mod  # module\n"},
		{
			name:    "lists against nothing",
			changes: "A a.go  # a\nM b.go  # b\n",
			want: []string{
				"changes.txt:2: stale: M b.go declared, but there is no such file",
				"changes.txt: drift: A go.mod not declared",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"01-a/go.mod": "module golog\n", "01-a/a.go": "package a\n"}
			if tt.changes != "" {
				files["01-a/changes.txt"] = tt.changes
			}
			stages := stagesOf(t, newRepo(t, files))
			requireLines(t, tt.want, checkChanges(nil, stages[0]))
		})
	}
}

func TestStageFilesSeesWhatGitSees(t *testing.T) {
	root := newRepo(t, map[string]string{
		".gitignore":        "*.test\n",
		"01-a/tracked.go":   "package a\n",
		"01-a/deleted.go":   "package a\n",
		"01-a/README.md":    "# 01 · A\n",
		"01-a/sub/go.sum":   "nested go.sum is compared\n",
		"01-a/a.test":       "binary\n",
		"01-a/.gitignore":   "out/\n",
		"01-a/out/data.bin": "ignored\n",
	})
	gitRun(t, root, "add", "01-a/tracked.go", "01-a/deleted.go")
	writeTree(t, root, map[string]string{"01-a/untracked.go": "package a\n"})
	stages := stagesOf(t, root)
	if err := os.Remove(filepath.Join(stages[0].dir, "deleted.go")); err != nil {
		t.Fatal(err)
	}

	files, err := stageFiles(stages[0].dir)
	if err != nil {
		t.Fatal(err)
	}
	requireLines(t, []string{".gitignore", "sub/go.sum", "tracked.go", "untracked.go"}, slices.Sorted(maps.Keys(files)))
}
