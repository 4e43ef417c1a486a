package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestByteSize(t *testing.T) {
	tests := []struct {
		in        string
		want      uint64
		printed   string
		wantError bool
	}{
		{in: "0", want: 0, printed: "0"},
		{in: "1000", want: 1000, printed: "1000"},
		{in: "1024", want: 1024, printed: "1KiB"},
		{in: "1B", want: 1, printed: "1"},
		{in: "4KiB", want: 4 << 10, printed: "4KiB"},
		{in: "64MiB", want: 64 << 20, printed: "64MiB"},
		{in: "64 mib", want: 64 << 20, printed: "64MiB"},
		{in: "1536KiB", want: 1536 << 10, printed: "1536KiB"},
		{in: "12GiB", want: 12 << 30, printed: "12GiB"},
		{in: "2TiB", want: 2 << 40, printed: "2TiB"},
		{in: "18446744073709551615", want: 1<<64 - 1, printed: "18446744073709551615"},
		{in: "16777216TiB", wantError: true}, // 2^64
		{in: "1MB", wantError: true},         // a decimal megabyte? say which
		{in: "-1", wantError: true},
		{in: "1.5MiB", wantError: true},
		{in: "MiB", wantError: true},
		{in: "", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var b byteSize
			err := b.Set(tt.in)
			if tt.wantError {
				require.ErrorContains(t, err, "is not a size")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, uint64(b))
			require.Equal(t, tt.printed, b.String())
			var again byteSize
			require.NoError(t, again.Set(b.String()), "what it prints reads back")
			require.Equal(t, b, again)
		})
	}
}

func TestChoice(t *testing.T) {
	value := "sync"
	c := newChoice(&value, "sync", "none")
	require.Equal(t, "sync", c.String())
	require.Equal(t, "sync|none", c.Type())
	require.NoError(t, c.Set("none"))
	require.Equal(t, "none", value)
	require.ErrorContains(t, c.Set("fsync"), `"fsync" is not one of sync, none`)
	require.Equal(t, "none", value, "unchanged by a bad value")
}
