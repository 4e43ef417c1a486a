package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// runTour lists a stage's files in reading order, as its README's "## Read the code"
// section gives them, with their sizes: the core path first, then the files the README
// marks as hardening (after a line that starts with "Hardening"), then how many files
// the list leaves out.
func runTour(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("stagecheck tour", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", "", "repository root (default: the git work tree of the current directory)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: stagecheck tour [-root DIR] STAGE")
		return 2
	}
	stages, err := loadStages(*root)
	if err != nil {
		fmt.Fprintf(stderr, "tour: %v\n", err)
		return 2
	}
	i := findStage(stages, flags.Arg(0))
	if i < 0 {
		fmt.Fprintf(stderr, "tour: no stage %q\n", flags.Arg(0))
		return 2
	}
	if err := printTour(stdout, stages[i]); err != nil {
		fmt.Fprintf(stderr, "tour: %v\n", err)
		return 1
	}
	return 0
}

// A tourStep is one file of the reading order.
type tourStep struct {
	file      string // slash path relative to the stage
	hardening bool   // listed after the README's "Hardening" line
}

var (
	numberedItem = regexp.MustCompile(`^\d+\.\s`)
	codeSpan     = regexp.MustCompile("`([^`]+)`")
)

// readingOrder returns the files that the "## Read the code" section of markdown names,
// in order, each once. A numbered item names files in code spans; a bare file name
// (`voters.go`) is taken in the folder of the path named before it. Code spans that are
// not files of the stage in dir (identifiers, commands) are skipped.
func readingOrder(markdown, dir string) []tourStep {
	var steps []tourStep
	seen := map[string]bool{}
	inSection, hardening, lastDir := false, false, ""
	for _, line := range strings.Split(markdown, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			inSection = strings.TrimSpace(line) == "## Read the code"
			continue
		case !inSection:
			continue
		case strings.HasPrefix(line, "Hardening"):
			hardening = true
			continue
		case !numberedItem.MatchString(line):
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
			name := m[1]
			if !strings.Contains(name, "/") && lastDir != "" {
				name = path.Join(lastDir, name)
			}
			info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil || info.IsDir() {
				continue
			}
			lastDir = path.Dir(name)
			if !seen[name] {
				seen[name] = true
				steps = append(steps, tourStep{file: name, hardening: hardening})
			}
		}
	}
	return steps
}

// printTour writes the reading order of s.
func printTour(w io.Writer, s stage) error {
	readme, err := os.ReadFile(filepath.Join(s.dir, "README.md"))
	if err != nil {
		return err
	}
	steps := readingOrder(string(readme), s.dir)
	if len(steps) == 0 {
		return fmt.Errorf("%s/README.md: \"## Read the code\" names no file of the stage", s.name)
	}
	fmt.Fprintf(w, "%s, in reading order (README.md, \"Read the code\"):\n", s.name)
	hardening := false
	for i, st := range steps {
		if st.hardening && !hardening {
			fmt.Fprintln(w, "hardening, to read later:")
			hardening = true
		}
		b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(st.file)))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%3d. %-48s %5d lines\n", i+1, st.file, bytes.Count(b, []byte("\n")))
	}
	files, err := stageFiles(s.dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d more files: tests, generated code and helpers the list does not name.\n", len(files)-len(steps))
	return nil
}
