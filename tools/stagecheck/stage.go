package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// stage is one stage folder.
type stage struct {
	name string // folder name, e.g. "03-grpc"
	dir  string // absolute path
}

// number returns the stage's two-digit number, e.g. "03".
func (s stage) number() string { return s.name[:2] }

// loadStages returns the stage folders under root, sorted by name. An empty root means
// the top of the git work tree that holds the current directory.
func loadStages(root string) ([]stage, error) {
	if root == "" {
		top, err := git(".", "rev-parse", "--show-toplevel")
		if err != nil {
			return nil, fmt.Errorf("find the repository root (or pass -root): %w", err)
		}
		root = strings.TrimSpace(top)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var stages []stage
	for _, e := range entries { // os.ReadDir sorts by name
		if ok, _ := filepath.Match("[0-9][0-9]-*", e.Name()); ok && e.IsDir() {
			stages = append(stages, stage{name: e.Name(), dir: filepath.Join(root, e.Name())})
		}
	}
	return stages, nil
}

// findStage returns the index of the stage called name ("03-grpc") or numbered name
// ("03"), or -1.
func findStage(stages []stage, name string) int {
	name = strings.TrimSuffix(name, "/")
	for i, s := range stages {
		if s.name == name || s.number() == name {
			return i
		}
	}
	return -1
}

// git runs git in dir and returns its standard output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}
