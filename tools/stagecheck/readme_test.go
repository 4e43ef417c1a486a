package main

import (
	"strings"
	"testing"
)

const goodReadme = `# 02 · Protobuf records

Intro.

## The idea

` + "```text\n# not a heading\n## Run it\n```" + `

## What changed since 01-log

## Run it

### The tour

## Read the code

## Exercises

## Going further
`

func TestCheckReadme(t *testing.T) {
	tests := []struct {
		name   string
		readme string // "" means no README.md
		want   []string
	}{
		{name: "good", readme: goodReadme},
		{name: "missing", want: []string{"README.md: missing"}},
		{
			name:   "wrong number",
			readme: strings.Replace(goodReadme, "# 02 ·", "# 2 ·", 1),
			want:   []string{`README.md: first heading must be "# 02 · Title", found "# 2 · Protobuf records"`},
		},
		{
			name:   "no title",
			readme: strings.Replace(goodReadme, "# 02 · Protobuf records", "# 02 · ", 1),
			want:   []string{`README.md: first heading must be "# 02 · Title", found "# 02 ·"`},
		},
		{
			name:   "missing heading",
			readme: strings.Replace(goodReadme, "## Exercises", "## Exercise", 1),
			want:   []string{`README.md: missing heading "## Exercises"`},
		},
		{
			name:   "out of order",
			readme: strings.Replace(goodReadme, "## Run it\n\n### The tour\n\n## Read the code", "## Read the code\n\n## Run it", 1),
			want:   []string{`README.md: heading "## Read the code" must come after "## Run it"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"02-protobuf/go.mod": "module golog\n"}
			if tt.readme != "" {
				files["02-protobuf/README.md"] = tt.readme
			}
			stages := stagesOf(t, newRepo(t, files))
			requireLines(t, tt.want, checkReadme(stages[0]))
		})
	}
}
