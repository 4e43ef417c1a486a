package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// modulePath is the module path of every stage, so import lines read the same in all of them.
const modulePath = "golog"

// checkGoMods checks the go.mod of every stage and returns the problems found, by stage
// name. The first stage with a go.mod sets the go line; the first stage that requires a
// module sets its version, and a later stage that requires another version is reported.
func checkGoMods(stages []stage) map[string][]string {
	problems := map[string][]string{}
	report := func(s stage, format string, args ...any) {
		problems[s.name] = append(problems[s.name], "go.mod: "+fmt.Sprintf(format, args...))
	}
	var goRef *stage
	var goVersion string
	type pin struct{ version, stage string }
	pins := map[string]pin{}

	for i, s := range stages {
		path := filepath.Join(s.dir, "go.mod")
		data, err := os.ReadFile(path)
		if err != nil {
			report(s, "missing")
			continue
		}
		f, err := modfile.Parse(path, data, nil)
		if err != nil {
			report(s, "%v", err)
			continue
		}
		if f.Module == nil || f.Module.Mod.Path != modulePath {
			got := ""
			if f.Module != nil {
				got = f.Module.Mod.Path
			}
			report(s, "module %q, want %q", got, modulePath)
		}
		gotGo := ""
		if f.Go != nil {
			gotGo = f.Go.Version
		}
		switch {
		case goRef == nil:
			goRef, goVersion = &stages[i], gotGo
		case gotGo != goVersion:
			report(s, "go %s, but %s has go %s", gotGo, goRef.name, goVersion)
		}
		if f.Toolchain != nil {
			report(s, "toolchain %s: stages carry no toolchain line", f.Toolchain.Name)
		}
		for _, r := range f.Require {
			p, seen := pins[r.Mod.Path]
			switch {
			case !seen:
				pins[r.Mod.Path] = pin{r.Mod.Version, s.name}
			case p.version != r.Mod.Version:
				report(s, "%s %s, but %s requires %s; bump every stage together",
					r.Mod.Path, r.Mod.Version, p.stage, p.version)
			}
		}
	}
	return problems
}
