package bench

import (
	"bytes"
	"fmt"
	"strconv"
)

// MinSize is the smallest record a run writes: the nonce and the index, 16 hex digits
// each.
const MinSize = 32

// Payload returns the value of record index of the run with the given nonce, size
// bytes long (size >= MinSize).
func Payload(nonce, index uint64, size int) []byte {
	return AppendPayload(make([]byte, 0, size), nonce, index, size)
}

// AppendPayload appends Payload(nonce, index, size) to dst and returns the result.
func AppendPayload(dst []byte, nonce, index uint64, size int) []byte {
	dst = appendHex16(dst, nonce)
	dst = appendHex16(dst, index)
	seed := byte(nonce) + byte(index)*7 + byte(index>>8)*3
	for i := MinSize; i < size; i++ {
		dst = append(dst, 'a'+(seed+byte(i))%26)
	}
	return dst
}

// appendHex16 appends v as 16 lower-case hex digits.
func appendHex16(dst []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, digits[(v>>uint(shift))&0xf])
	}
	return dst
}

// Checker checks values against Payload, reusing one buffer (not safe for concurrent
// use: one per goroutine).
type Checker struct {
	Nonce uint64
	Size  int
	want  []byte
}

// Check returns an error unless value is exactly Payload(Nonce, index, Size).
func (c *Checker) Check(index uint64, value []byte) error {
	c.want = AppendPayload(c.want[:0], c.Nonce, index, c.Size)
	if bytes.Equal(value, c.want) {
		return nil
	}
	return fmt.Errorf("record %d: got %s, want %s", index, describe(value), describe(c.want))
}

// IndexOf returns the index a value of this run's says it is, or false if the value
// is not one of this run's records.
func (c *Checker) IndexOf(value []byte) (uint64, bool) {
	if len(value) < MinSize || string(value[:16]) != string(appendHex16(nil, c.Nonce)) {
		return 0, false
	}
	index, err := strconv.ParseUint(string(value[16:32]), 16, 64)
	return index, err == nil
}

// describe shortens a value for an error message.
func describe(v []byte) string {
	if len(v) > 48 {
		return fmt.Sprintf("%q... (%d bytes)", v[:48], len(v))
	}
	return fmt.Sprintf("%q", v)
}
