package lab_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/lab"
)

func TestRequireLoopback(t *testing.T) {
	tests := []struct {
		name  string
		addrs []string
		ok    bool
	}{
		{"IPv4 loopback", []string{"http", "127.0.0.1:4001", "rpc", "127.0.0.2:8400"}, true},
		{"IPv6 loopback and localhost", []string{"http", "[::1]:4001", "rpc", "localhost:8400"}, true},
		{"empty addresses are skipped", []string{"advertise", "", "http", "127.0.0.1:0"}, true},
		{"every interface", []string{"bind", "0.0.0.0:8401"}, false},
		{"every interface, no host", []string{"rpc", ":8400"}, false},
		{"a private address", []string{"join", "10.0.0.5:8401"}, false},
		{"a name", []string{"supervisor", "lab.example:4000"}, false},
		{"one bad among good", []string{"http", "127.0.0.1:4001", "rpc", "[::]:8400"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lab.RequireLoopback(tt.addrs...)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, lab.ErrNotLoopback)
		})
	}
}

// TestLabRequestsAreGuarded sends lab requests that a page of another site, or a DNS
// name rebound to loopback, could send, and checks that lab mode refuses them before
// it acts; and that a proper one acts.
func TestLabRequestsAreGuarded(t *testing.T) {
	link := lab.NewLink(1)
	mode := lab.NewMode(lab.ModeConfig{Name: "node-1", Link: link})
	tests := []struct {
		name   string
		method string
		host   string
		header bool
		origin string
		status int
	}{
		{"a form post from anywhere: no header", http.MethodPost, "127.0.0.1:4001", false, "https://evil.example", http.StatusForbidden},
		{"another origin", http.MethodPost, "127.0.0.1:4001", true, "https://evil.example", http.StatusForbidden},
		{"a name rebound to loopback", http.MethodPost, "evil.example:4001", true, "", http.StatusForbidden},
		{"GET", http.MethodGet, "127.0.0.1:4001", true, "", http.StatusMethodNotAllowed},
		{"the page itself", http.MethodPost, "127.0.0.1:4001", true, "http://127.0.0.1:4001", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link.Heal()
			req := httptest.NewRequest(tt.method, "http://"+tt.host+"/api/lab/link", strings.NewReader(`{"cut": true}`))
			if tt.header {
				req.Header.Set(lab.HeaderName, "1")
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			rec := httptest.NewRecorder()
			mode.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			require.Equal(t, tt.status == http.StatusOK, link.IsCut(), "cut only by an accepted request")
		})
	}
	t.Run("process actions without a supervisor", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4001/api/lab/nodes/node-2/kill", nil)
		req.Header.Set(lab.HeaderName, "1")
		rec := httptest.NewRecorder()
		mode.ServeHTTP(rec, req)
		require.Equal(t, http.StatusConflict, rec.Code)
		require.Contains(t, rec.Body.String(), "without a supervisor")
	})
}
