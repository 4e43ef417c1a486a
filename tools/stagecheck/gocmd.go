package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// goChecks runs gofmt, go vet and a test run that executes no test in dir, and returns
// one problem per line of complaint. The test run passes -debug=true, which fails in any
// test package that does not define the flag.
func goChecks(dir string) []string {
	var problems []string
	out, err := runIn(dir, "gofmt", "-l", ".")
	if err != nil {
		problems = append(problems, prefixLines("gofmt: ", out, err)...)
	} else {
		for _, f := range strings.Fields(out) {
			problems = append(problems, fmt.Sprintf("gofmt: %s is not formatted (run gofmt -w %s)", f, f))
		}
	}
	if out, err := runIn(dir, "go", "vet", "./..."); err != nil {
		problems = append(problems, prefixLines("go vet: ", out, err)...)
	}
	if out, err := runIn(dir, "go", "test", "./...", "-run", "^$", "-debug=true"); err != nil {
		problems = append(problems, prefixLines("go test -debug=true: ", out, err)...)
	}
	return problems
}

// runIn runs a command in dir, outside any go.work, and returns its combined output.
func runIn(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// prefixLines turns the output of a failed command into problems: one per line that
// says what went wrong. It leaves out indented detail (such as the flag usage a test
// binary prints), package headers and packages that passed; running the command in the
// stage shows everything. If nothing is left, err is the problem.
func prefixLines(prefix, out string, err error) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, " \t\r")
		if l == "" || l == "FAIL" || l[0] == ' ' || l[0] == '\t' ||
			strings.HasPrefix(l, "# ") || strings.HasPrefix(l, "Usage of ") ||
			strings.HasPrefix(l, "ok  \t") || strings.HasPrefix(l, "?   \t") {
			continue
		}
		lines = append(lines, prefix+l)
	}
	if len(lines) == 0 {
		lines = append(lines, prefix+err.Error())
	}
	return lines
}
