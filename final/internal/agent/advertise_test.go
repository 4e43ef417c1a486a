package agent

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAdvertiseAddr(t *testing.T) {
	tests := []struct {
		name     string
		listen   string
		bindAddr string
		want     string
		wantErr  string // part of the error; empty for none
	}{
		{name: "specific address", listen: "127.0.0.1:8400", bindAddr: "0.0.0.0:8401", want: "127.0.0.1:8400"},
		{name: "IPv6 address", listen: "[::1]:8400", bindAddr: "[::1]:8401", want: "[::1]:8400"},
		{name: "every IPv4 interface", listen: "0.0.0.0:8400", bindAddr: "10.0.0.5:8401", want: "10.0.0.5:8400"},
		{name: "every interface", listen: "[::]:8400", bindAddr: "10.0.0.5:8401", want: "10.0.0.5:8400"},
		{name: "wildcards only", listen: "0.0.0.0:8400", bindAddr: "0.0.0.0:8401", wantErr: "listens on every interface"},
		{name: "bad bind address", listen: "0.0.0.0:8400", bindAddr: "10.0.0.5", wantErr: "BindAddr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listen, err := net.ResolveTCPAddr("tcp", tt.listen)
			require.NoError(t, err)
			got, err := advertiseAddr(listen, tt.bindAddr)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
