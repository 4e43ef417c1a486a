package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// byteSize is a number of bytes as a flag (pflag.Value): a plain number, or a number
// with one of the units of byteUnits, such as 64MiB. It prints with the largest unit
// that divides it exactly, so the defaults in the help read 64MiB rather than 67108864,
// and as a plain number when none does.
type byteSize uint64

// byteUnits are the units a byteSize accepts, largest first; case does not matter.
// Only binary units: "MB" would leave the reader guessing between 10⁶ and 2²⁰.
var byteUnits = []struct {
	name string
	size uint64
}{
	{"TiB", 1 << 40},
	{"GiB", 1 << 30},
	{"MiB", 1 << 20},
	{"KiB", 1 << 10},
	{"B", 1},
}

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	number, unit := s, uint64(1)
	for _, u := range byteUnits {
		if len(s) > len(u.name) && strings.EqualFold(s[len(s)-len(u.name):], u.name) {
			number, unit = strings.TrimSpace(s[:len(s)-len(u.name)]), u.size
			break
		}
	}
	n, err := strconv.ParseUint(number, 10, 64)
	if err != nil || (unit > 1 && n > math.MaxUint64/unit) {
		return fmt.Errorf("%q is not a size: want a whole number of bytes, with a unit of B, KiB, MiB, GiB or TiB if you like (64MiB)", s)
	}
	*b = byteSize(n * unit)
	return nil
}

func (b byteSize) String() string {
	if b != 0 {
		for _, u := range byteUnits[:len(byteUnits)-1] { // all but B
			if uint64(b)%u.size == 0 {
				return strconv.FormatUint(uint64(b)/u.size, 10) + u.name
			}
		}
	}
	return strconv.FormatUint(uint64(b), 10)
}

func (b byteSize) Type() string { return "size" }

// choice is a string flag (pflag.Value) that takes one of a fixed list of values.
type choice struct {
	value   *string
	allowed []string
}

// newChoice returns a choice that stores into value, which holds the default.
func newChoice(value *string, allowed ...string) *choice {
	return &choice{value: value, allowed: allowed}
}

func (c *choice) Set(s string) error {
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("%q is not one of %s", s, strings.Join(c.allowed, ", "))
	}
	*c.value = s
	return nil
}

func (c *choice) String() string { return *c.value }

func (c *choice) Type() string { return strings.Join(c.allowed, "|") }
