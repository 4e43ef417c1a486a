//go:build unix

package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFileName is the file in a log's directory that the open Log holds an exclusive
// flock(2) on. The lock, not the file, is what matters: the kernel drops it when the file
// is closed or the process dies, so a crash never leaves a directory locked.
const lockFileName = "LOCK"

// lockDir takes the directory's lock, or returns an error wrapping ErrInUse when another
// Log holds it. Two Logs in one process conflict too: flock locks belong to an open file,
// not to a process.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// unlockDir releases the lock taken by lockDir.
func unlockDir(f *os.File) error {
	return f.Close()
}
