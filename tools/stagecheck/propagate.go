package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// runPropagate carries a fix of a shared file forward: it copies FILE from stage FROM
// into each later stage whose copy is byte-identical to FROM's committed version (git's
// HEAD), that is, the copies the fix should reach. It stops at the first later stage
// whose copy differs from both the old and the new content, because that stage changed
// the file for its own layer and needs the fix carried by hand. Copies that already have
// the new content are passed over.
func runPropagate(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("stagecheck propagate", flag.ContinueOnError)
	flags.SetOutput(stderr)
	root := flags.String("root", "", "repository root (default: the git work tree of the current directory)")
	from := flags.String("from", "", "stage that holds the fixed file, by name (01-log) or number (01)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *from == "" || flags.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: stagecheck propagate [-root DIR] -from STAGE FILE")
		return 2
	}
	file := path.Clean(filepath.ToSlash(flags.Arg(0)))
	if !fs.ValidPath(file) || file == "." {
		fmt.Fprintf(stderr, "propagate: %q is not a file path inside the stage\n", flags.Arg(0))
		return 2
	}
	stages, err := loadStages(*root)
	if err != nil {
		fmt.Fprintf(stderr, "propagate: %v\n", err)
		return 2
	}
	i := findStage(stages, *from)
	if i < 0 {
		fmt.Fprintf(stderr, "propagate: no stage %q\n", *from)
		return 2
	}
	if err := propagate(stages, i, file, stdout); err != nil {
		fmt.Fprintf(stderr, "propagate: %v\n", err)
		return 1
	}
	return 0
}

// propagate copies file from stages[from] into the later stages, as runPropagate says,
// and prints one line per stage it looked at.
func propagate(stages []stage, from int, file string, w io.Writer) error {
	src := stages[from]
	name := src.name + "/" + file
	fixed, err := os.ReadFile(filepath.Join(src.dir, filepath.FromSlash(file)))
	if err != nil {
		return err
	}
	old, err := git(src.dir, "show", "HEAD:./"+file)
	if err != nil {
		return fmt.Errorf("%s has no committed version to compare copies with: %w", name, err)
	}
	if old == string(fixed) {
		fmt.Fprintf(w, "%s is unchanged since HEAD; nothing to carry forward\n", name)
		return nil
	}
	updated := 0
copies:
	for _, s := range stages[from+1:] {
		dst := filepath.Join(s.dir, filepath.FromSlash(file))
		copyName := s.name + "/" + file
		cur, err := os.ReadFile(dst)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(w, "stop at %s: no such file\n", copyName)
			break copies
		case err != nil:
			return err
		case bytes.Equal(cur, fixed):
			fmt.Fprintf(w, "already fixed %s\n", copyName)
		case string(cur) == old:
			info, err := os.Stat(dst)
			if err != nil {
				return err
			}
			if err := os.WriteFile(dst, fixed, info.Mode().Perm()); err != nil {
				return err
			}
			fmt.Fprintf(w, "updated %s\n", copyName)
			updated++
		default:
			fmt.Fprintf(w, "stop at %s: it differs from %s's committed copy; carry the fix there by hand\n", copyName, src.name)
			break copies
		}
	}
	fmt.Fprintf(w, "%d later copies updated\n", updated)
	return nil
}
