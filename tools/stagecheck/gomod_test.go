package main

import (
	"testing"
)

func TestCheckGoMods(t *testing.T) {
	root := newRepo(t, map[string]string{
		"01-a/go.mod":    "module golog\n\ngo 1.26.0\n\nrequire (\n\tgithub.com/stretchr/testify v1.12.1\n\tgolang.org/x/sys v0.50.0 // indirect\n)\n",
		"02-b/go.mod":    "module golog\n\ngo 1.26.0\n\nrequire (\n\tgithub.com/stretchr/testify v1.12.1\n\tgolang.org/x/sys v0.51.0 // indirect\n\tgoogle.golang.org/grpc v1.85.0\n)\n",
		"03-c/go.mod":    "module example.com/c\n\ngo 1.26.1\n\ntoolchain go1.26.8\n\nrequire google.golang.org/grpc v1.84.0\n",
		"04-d/README.md": "# 04 · D\n",
		"05-e/go.mod":    "module golog\n\ngo 1.26.0\n\nrequire google.golang.org/grpc v1.85.0\n",
	})
	got := checkGoMods(stagesOf(t, root))

	want := map[string][]string{
		"02-b": {"go.mod: golang.org/x/sys v0.51.0, but 01-a requires v0.50.0; bump every stage together"},
		"03-c": {
			`go.mod: module "example.com/c", want "golog"`,
			"go.mod: go 1.26.1, but 01-a has go 1.26.0",
			"go.mod: toolchain go1.26.8: stages carry no toolchain line",
			"go.mod: google.golang.org/grpc v1.84.0, but 02-b requires v1.85.0; bump every stage together",
		},
		"04-d": {"go.mod: missing"},
	}
	for _, name := range []string{"01-a", "02-b", "03-c", "04-d", "05-e"} {
		t.Run(name, func(t *testing.T) { requireLines(t, want[name], got[name]) })
	}
}
