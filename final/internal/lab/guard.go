package lab

import (
	"errors"
	"fmt"
	"net"
	"net/http"
)

// ErrNotLoopback is wrapped by the error of RequireLoopback: lab mode can stop, kill
// and cut off servers, and is only for a cluster that lives on one machine's loopback
// interface, where nobody but that machine's users can reach it.
var ErrNotLoopback = errors.New("lab mode runs on loopback addresses only")

// RequireLoopback returns an error wrapping ErrNotLoopback unless every address is a
// loopback "host:port" (127.0.0.0/8, ::1 or localhost). what names each address in
// the error, as "name=addr" pairs: RequireLoopback("http-addr", a, "rpc-addr", b).
// Empty addresses are skipped; a wildcard (0.0.0.0, [::], ":8400") is refused.
func RequireLoopback(namesAndAddrs ...string) error {
	var errs []error
	for i := 0; i+1 < len(namesAndAddrs); i += 2 {
		name, addr := namesAndAddrs[i], namesAndAddrs[i+1]
		if addr == "" {
			continue
		}
		if !IsLoopback(addr) {
			errs = append(errs, fmt.Errorf("%w: %s %q is not a loopback address", ErrNotLoopback, name, addr))
		}
	}
	return errors.Join(errs...)
}

// IsLoopback reports whether addr, a "host:port" or a bare host, names a loopback
// address.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HeaderName is the header every request of lab mode must carry, with the value "1".
// A browser sends a custom header only from a script of the page's own origin (any
// other origin needs a CORS pre-flight, which lab mode never answers), so a web page
// of another site that the teacher happens to open cannot kill servers with a form.
const HeaderName = "X-Golog-Lab"

// checkRequest returns the status and reason to refuse r with, or 0 if lab mode may
// act on it: a POST, with HeaderName, to a loopback Host (a name that resolves
// elsewhere, DNS rebinding, is refused), and from the same origin if the browser says
// where it comes from.
func checkRequest(r *http.Request) (int, string) {
	switch {
	case r.Method != http.MethodPost:
		return http.StatusMethodNotAllowed, "lab actions are POST requests"
	case r.Header.Get(HeaderName) != "1":
		return http.StatusForbidden, "lab actions need the header " + HeaderName + ": 1"
	case !IsLoopback(r.Host):
		return http.StatusForbidden, fmt.Sprintf("lab actions are served on loopback addresses only, not to Host %q", r.Host)
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != "http://"+r.Host {
		return http.StatusForbidden, fmt.Sprintf("lab actions are refused from another origin (%q)", origin)
	}
	return 0, ""
}
