package storage

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocate makes f at least size bytes long with its blocks reserved on disk. A sparse
// file would do for reading and writing, but a write through a memory mapping into a
// hole needs a block at that moment, and on a full disk the kernel can only answer with
// SIGBUS, which kills the process. With the blocks reserved up front, a full disk is an
// error here instead. File systems without fallocate get a plain (sparse) truncate.
func allocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return growTo(f, size)
	}
	return err
}
