package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// notCompared are the stage-root files that changes.txt does not describe.
var notCompared = map[string]bool{"README.md": true, "changes.txt": true, "go.sum": true}

// A change is one file's difference between two stages.
type change struct {
	op   byte   // 'A', 'M' or 'D'
	path string // slash-separated, relative to the stage
}

func (c change) String() string { return string(c.op) + " " + c.path }

// A declaration is one line of changes.txt.
type declaration struct {
	change
	line int
}

// parseChanges parses the content of a changes.txt. It returns the declarations of the
// well-formed lines and a problem for each malformed one.
func parseChanges(data []byte) ([]declaration, []string) {
	var decls []declaration
	var problems []string
	for i, line := range strings.Split(string(data), "\n") {
		n, line := i+1, strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, why, hasWhy := strings.Cut(line, "#")
		fields := strings.Fields(entry)
		switch {
		case len(fields) != 2 || len(fields[0]) != 1 || !strings.Contains("AMD", fields[0]):
			problems = append(problems, fmt.Sprintf("changes.txt:%d: want \"A|M|D path  # why\", got %q", n, line))
		case !fs.ValidPath(fields[1]) || fields[1] == ".":
			problems = append(problems, fmt.Sprintf("changes.txt:%d: %q is not a clean path relative to the stage", n, fields[1]))
		case !hasWhy || strings.TrimSpace(why) == "":
			problems = append(problems, fmt.Sprintf("changes.txt:%d: %s %s: say why after a #", n, fields[0], fields[1]))
		default:
			decls = append(decls, declaration{change{fields[0][0], fields[1]}, n})
		}
	}
	return decls, problems
}

// stageFiles returns the files of the stage in dir that git sees and that changes.txt
// describes, as slash-separated paths relative to dir. Tracked files missing from the
// work tree are left out.
func stageFiles(dir string) (map[string]bool, error) {
	out, err := git(dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return nil, err
	}
	files := map[string]bool{}
	for _, p := range strings.Split(out, "\x00") {
		if p == "" || notCompared[p] {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p))); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		files[p] = true
	}
	return files, nil
}

// diffStages returns the changes that turn the files of prev (in prevDir) into the files
// of cur (in curDir), sorted by path.
func diffStages(prevDir string, prev map[string]bool, curDir string, cur map[string]bool) ([]change, error) {
	var changes []change
	for p := range prev {
		if !cur[p] {
			changes = append(changes, change{'D', p})
		}
	}
	for p := range cur {
		if !prev[p] {
			changes = append(changes, change{'A', p})
			continue
		}
		a, err := os.ReadFile(filepath.Join(prevDir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(curDir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(a, b) {
			changes = append(changes, change{'M', p})
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].path < changes[j].path })
	return changes, nil
}

// checkChanges compares the changes.txt of cur with the real difference from prev, which
// is nil for the first stage, and returns one problem per disagreement.
func checkChanges(prev *stage, cur stage) []string {
	data, err := os.ReadFile(filepath.Join(cur.dir, "changes.txt"))
	switch {
	case errors.Is(err, fs.ErrNotExist) && prev == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return []string{fmt.Sprintf("changes.txt: missing (it lists the difference from %s)", prev.name)}
	case err != nil:
		return []string{fmt.Sprintf("changes.txt: %v", err)}
	}
	decls, problems := parseChanges(data)

	prevDir, prevFiles := "", map[string]bool{}
	if prev != nil {
		prevDir = prev.dir
		if prevFiles, err = stageFiles(prev.dir); err != nil {
			return append(problems, fmt.Sprintf("changes.txt: list %s: %v", prev.name, err))
		}
	}
	curFiles, err := stageFiles(cur.dir)
	if err != nil {
		return append(problems, fmt.Sprintf("changes.txt: list files: %v", err))
	}
	actual, err := diffStages(prevDir, prevFiles, cur.dir, curFiles)
	if err != nil {
		return append(problems, fmt.Sprintf("changes.txt: %v", err))
	}
	actualOp := map[string]byte{}
	for _, c := range actual {
		actualOp[c.path] = c.op
	}

	declaredAt := map[string]int{}
	for _, d := range decls {
		if first, dup := declaredAt[d.path]; dup {
			problems = append(problems, fmt.Sprintf("changes.txt:%d: %s is declared again (first on line %d)", d.line, d.path, first))
			continue
		}
		declaredAt[d.path] = d.line
		op, changed := actualOp[d.path]
		switch {
		case notCompared[d.path]:
			problems = append(problems, fmt.Sprintf("changes.txt:%d: %s is never compared; drop the line", d.line, d.path))
		case !changed && curFiles[d.path]:
			problems = append(problems, fmt.Sprintf("changes.txt:%d: stale: %s declared, but the file is the same as in %s", d.line, d.change, prev.name))
		case !changed:
			problems = append(problems, fmt.Sprintf("changes.txt:%d: stale: %s declared, but there is no such file", d.line, d.change))
		case op != d.op:
			problems = append(problems, fmt.Sprintf("changes.txt:%d: drift: %s declared, but the change is %s", d.line, d.change, change{op, d.path}))
		}
	}
	for _, c := range actual {
		if _, ok := declaredAt[c.path]; !ok {
			problems = append(problems, fmt.Sprintf("changes.txt: drift: %s not declared", c))
		}
	}
	return problems
}
