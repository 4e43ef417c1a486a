package storage_test

import (
	"errors"
	"fmt"
	"os"

	"golog/internal/storage"
)

func Example() {
	dir, err := os.MkdirTemp("", "golog-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	l, err := storage.NewLog(dir, storage.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	for _, v := range []string{"AA", "BB", "CC"} {
		off, err := l.Append(&storage.Record{Value: []byte(v)})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("appended %s at offset %d\n", v, off)
	}

	r, err := l.Read(1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("offset %d holds %s\n", r.Offset, r.Value)

	_, err = l.Read(3)
	if e, ok := errors.AsType[storage.ErrOffsetOutOfRange](err); ok {
		fmt.Printf("offset %d: not there yet, the next record gets %d\n", e.Offset, e.Next)
	}
	// Output:
	// appended AA at offset 0
	// appended BB at offset 1
	// appended CC at offset 2
	// offset 1 holds BB
	// offset 3: not there yet, the next record gets 3
}

// A Log's Reader streams the whole log; a Scanner turns the stream back into records,
// for example to copy a log or to restore it elsewhere.
func ExampleScanner() {
	dir, err := os.MkdirTemp("", "golog-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	l, err := storage.NewLog(dir, storage.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	for _, v := range []string{"AA", "BB"} {
		if _, err := l.Append(&storage.Record{Value: []byte(v)}); err != nil {
			fmt.Println(err)
			return
		}
	}

	s := storage.NewScanner(l.Reader())
	for s.Scan() {
		fmt.Printf("%d: %s\n", s.Record().Offset, s.Record().Value)
	}
	if err := s.Err(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 0: AA
	// 1: BB
}
