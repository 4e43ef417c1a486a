package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A stage README starts with "# NN · Title" and then has these headings, in this order;
// other headings may stand between them.
var readmeSections = []struct {
	heading string
	prefix  bool // the heading only starts with this text, e.g. "## What changed since 02-protobuf"
}{
	{"## The idea", false},
	{"## What changed since", true},
	{"## Run it", false},
	{"## Read the code", false},
	{"## Exercises", false},
	{"## Going further", false},
}

// checkReadme checks the headings of the stage's README.md.
func checkReadme(s stage) []string {
	data, err := os.ReadFile(filepath.Join(s.dir, "README.md"))
	if err != nil {
		return []string{"README.md: missing"}
	}
	hs := headings(string(data))

	var problems []string
	title := "# " + s.number() + " · "
	if len(hs) == 0 || !strings.HasPrefix(hs[0], title) || strings.TrimSpace(hs[0][len(title):]) == "" {
		found := "no heading"
		if len(hs) > 0 {
			found = fmt.Sprintf("%q", hs[0])
		}
		problems = append(problems, fmt.Sprintf("README.md: first heading must be %q, found %s", title+"Title", found))
	}
	last, lastAt := "", -1
	for _, sec := range readmeSections {
		at := -1
		for i, h := range hs {
			if h == sec.heading || sec.prefix && strings.HasPrefix(h, sec.heading) {
				at = i
				break
			}
		}
		switch {
		case at < 0:
			problems = append(problems, fmt.Sprintf("README.md: missing heading %q", sec.heading))
		case at < lastAt:
			problems = append(problems, fmt.Sprintf("README.md: heading %q must come after %q", sec.heading, last))
		default:
			last, lastAt = sec.heading, at
		}
	}
	return problems
}

// headings returns the level-1 and level-2 ATX headings of a Markdown text, outside
// fenced code blocks, with trailing spaces removed.
func headings(markdown string) []string {
	var hs []string
	inFence := false
	for _, line := range strings.Split(markdown, "\n") {
		line = strings.TrimRight(line, " \t\r")
		trimmed := strings.TrimLeft(line, " ")
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence = !inFence
			continue
		}
		if !inFence && (strings.HasPrefix(line, "# ") || strings.HasPrefix(line, "## ")) {
			hs = append(hs, line)
		}
	}
	return hs
}
