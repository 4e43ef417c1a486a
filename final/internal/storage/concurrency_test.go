package storage_test

import (
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/storage"
	"golog/internal/testenv"
)

// TestConcurrentAppendAndRead runs appenders, readers that follow the log through
// Appended, whole-log Readers and Syncs at the same time, with segments small enough to
// roll often. Run it with -race.
func TestConcurrentAppendAndRead(t *testing.T) {
	const writers, perWriter, followers = 4, 100, 3
	const total = writers * perWriter
	l := openLog(t, testenv.TempDir(t), config(0, 16*12, 0))
	errs := make(chan error, writers+followers+1)
	var wg sync.WaitGroup

	written := make([]map[uint64]string, writers) // per writer: offset -> value
	for w := range writers {
		written[w] = map[uint64]string{}
		wg.Go(func() {
			for i := range perWriter {
				v := fmt.Sprintf("writer %d record %d", w, i)
				off, err := l.Append(&storage.Record{Value: []byte(v)})
				if err != nil {
					errs <- err
					return
				}
				written[w][off] = v
			}
		})
	}
	read := make([]map[uint64]string, followers) // per follower: offset -> value
	for f := range followers {
		read[f] = map[uint64]string{}
		wg.Go(func() {
			for off := uint64(0); off < total; {
				changed := l.Appended() // before looking, so that no append is missed
				for ; off < l.NextOffset(); off++ {
					r, err := l.Read(off)
					if err != nil {
						errs <- err
						return
					}
					read[f][off] = string(r.Value)
				}
				if off < total {
					<-changed
				}
			}
		})
	}
	wg.Go(func() {
		for {
			changed := l.Appended() // before looking, so that no append is missed
			if l.NextOffset() == total {
				return
			}
			if err := l.Sync(); err != nil {
				errs <- err
				return
			}
			s := storage.NewScanner(l.Reader())
			for s.Scan() {
			}
			if err := s.Err(); err != nil {
				errs <- err
				return
			}
			<-changed
		}
	})
	wg.Wait()
	close(errs)

	for err := range errs {
		require.NoError(t, err)
	}
	all := map[uint64]string{}
	for _, w := range written {
		for off, v := range w {
			all[off] = v
		}
	}
	require.Len(t, all, total, "every append got its own offset")
	for f := range read {
		require.Equal(t, all, read[f], "follower %d read what was written", f)
	}
	stream, err := io.ReadAll(l.Reader())
	require.NoError(t, err)
	require.NotEmpty(t, stream)
}
