package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// File modes: certificates and requests are public; a private key is for its owner
// only, as cfssljson writes it. A directory Write creates holds keys, so it is the
// owner's only too.
const (
	publicFileMode  = 0o644
	privateFileMode = 0o600
	dirMode         = 0o700
)

// Write writes the files of bundles into dir (see Bundle.Files), creating dir if it is
// missing, and returns their paths in name order.
//
// Unless overwrite is set, it writes nothing if any of the files exists already, and
// returns an error that wraps fs.ErrExist and names them: certificates in use are
// never replaced by accident. With overwrite, it replaces them; a replaced key file gets
// the key's mode whatever the old file's was.
func Write(dir string, bundles []Bundle, overwrite bool) ([]string, error) {
	files := map[string][]byte{}
	for _, b := range bundles {
		for name, data := range b.Files() {
			files[name] = data
		}
	}
	names := slices.Sorted(maps.Keys(files))

	if !overwrite {
		var existing []string
		for _, name := range names {
			_, err := os.Lstat(filepath.Join(dir, name))
			if err == nil {
				existing = append(existing, name)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("certs: %w", err)
			}
		}
		if len(existing) > 0 {
			return nil, fmt.Errorf("certs: %w in %s: %s", fs.ErrExist, dir, strings.Join(existing, ", "))
		}
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}

	paths := make([]string, 0, len(names))
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := writeFile(path, files[name], fileMode(name), overwrite); err != nil {
			return paths, fmt.Errorf("certs: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// fileMode returns the mode of the file called name: private for a key.
func fileMode(name string) os.FileMode {
	if strings.HasSuffix(name, "-key.pem") {
		return privateFileMode
	}
	return publicFileMode
}

// writeFile writes data to a new file at path with mode perm and flushes it to disk.
// With overwrite, an existing file is removed first, so that the new one gets perm (an
// existing file would keep its own mode); without it, an existing file is an error
// (fs.ErrExist), even one that appeared since Write looked.
func writeFile(path string, data []byte, perm os.FileMode, overwrite bool) error {
	if overwrite {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
