//go:build unix && !linux

package storage

import "os"

// allocate makes f at least size bytes long. Unlike on Linux, the blocks are not
// reserved: on a full disk, the first write through the mapping into the new space can
// kill the process with SIGBUS.
func allocate(f *os.File, size int64) error {
	return growTo(f, size)
}
