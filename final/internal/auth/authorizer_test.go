package auth_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"golog/internal/auth"
	"golog/internal/testenv"
)

func TestAuthorize(t *testing.T) {
	authorizer, err := auth.New(testenv.ACL(t))
	require.NoError(t, err)

	tests := []struct {
		name    string
		subject string
		object  string
		action  string
		wantMsg string // empty: allowed; else the PermissionDenied message
	}{
		{name: "root produces", subject: "root", object: auth.ObjectWildcard, action: auth.ActionProduce},
		{name: "root consumes", subject: "root", object: auth.ObjectWildcard, action: auth.ActionConsume},
		{
			name: "nobody produces", subject: "nobody", object: auth.ObjectWildcard, action: auth.ActionProduce,
			wantMsg: `"nobody" may not produce on "*"`,
		},
		{
			name: "nobody consumes", subject: "nobody", object: auth.ObjectWildcard, action: auth.ActionConsume,
			wantMsg: `"nobody" may not consume on "*"`,
		},
		{
			name: "unknown subject", subject: "alice", object: auth.ObjectWildcard, action: auth.ActionConsume,
			wantMsg: `"alice" may not consume on "*"`,
		},
		{
			name: "empty subject", subject: "", object: auth.ObjectWildcard, action: auth.ActionProduce,
			wantMsg: `"" may not produce on "*"`,
		},
		{
			name: "unknown action", subject: "root", object: auth.ObjectWildcard, action: "delete",
			wantMsg: `"root" may not delete on "*"`,
		},
		{
			name: "subjects are case-sensitive", subject: "Root", object: auth.ObjectWildcard, action: auth.ActionProduce,
			wantMsg: `"Root" may not produce on "*"`,
		},
		{
			// A policy line with object "*" covers every object, not only the literal "*".
			name: "root on a named object", subject: "root", object: "orders", action: auth.ActionProduce,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := authorizer.Authorize(tt.subject, tt.object, tt.action)
			if tt.wantMsg == "" {
				require.NoError(t, err)
				return
			}
			st, ok := status.FromError(err)
			require.True(t, ok, "Authorize returns a gRPC status, got %v", err)
			require.Equal(t, codes.PermissionDenied, st.Code())
			require.Equal(t, tt.wantMsg, st.Message())
		})
	}
}

// TestAuthorizeConcurrent calls Authorize from many goroutines at once; under -race it
// shows the Authorizer is safe for concurrent use.
func TestAuthorizeConcurrent(t *testing.T) {
	authorizer, err := auth.New(testenv.ACL(t))
	require.NoError(t, err)

	const goroutines, calls = 8, 100
	rootErrs := make([]error, goroutines)
	nobodyAllowed := make([]int, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range calls {
				if err := authorizer.Authorize("root", auth.ObjectWildcard, auth.ActionProduce); err != nil {
					rootErrs[g] = err
				}
				if authorizer.Authorize("nobody", auth.ObjectWildcard, auth.ActionConsume) == nil {
					nobodyAllowed[g]++
				}
			}
		})
	}
	wg.Wait()
	for g := range goroutines {
		require.NoError(t, rootErrs[g], "goroutine %d: root", g)
		require.Zero(t, nobodyAllowed[g], "goroutine %d: times nobody was allowed", g)
	}
}

func TestNewErrors(t *testing.T) {
	model, policy := testenv.ACL(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	missing := filepath.Join(dir, "missing")
	noMatcher := write("no-matcher.conf", `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))
`)
	badMatcher := write("bad-matcher.conf", `
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && (
`)
	twoFieldRequests := write("two-fields.conf", `
[request_definition]
r = sub, act

[policy_definition]
p = sub, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.act == p.act
`)
	shortPolicy := write("short.csv", "p, root, produce\n")

	tests := []struct {
		name          string
		model, policy string
		wantMsg       string // a part of the error message
		wantNotExist  bool   // the error wraps fs.ErrNotExist
	}{
		{name: "no model path", model: "", policy: policy, wantMsg: "both a model file and a policy file are required"},
		{name: "no policy path", model: model, policy: "", wantMsg: "both a model file and a policy file are required"},
		{name: "missing model file", model: missing, policy: policy, wantMsg: "load model", wantNotExist: true},
		{name: "missing policy file", model: model, policy: missing, wantMsg: "load model", wantNotExist: true},
		{name: "model without matcher", model: noMatcher, policy: policy, wantMsg: "matchers"},
		{name: "policy line with a field missing", model: model, policy: shortPolicy, wantMsg: "load model"},
		// The next two load, but cannot evaluate a request: New tries one to find out.
		{name: "matcher that does not parse", model: badMatcher, policy: policy, wantMsg: "cannot evaluate"},
		{name: "model not taking (sub, obj, act)", model: twoFieldRequests, policy: shortPolicy, wantMsg: "cannot evaluate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authorizer, err := auth.New(tt.model, tt.policy)
			require.Error(t, err)
			require.Nil(t, authorizer)
			require.ErrorContains(t, err, tt.wantMsg)
			if tt.wantNotExist {
				require.ErrorIs(t, err, fs.ErrNotExist)
			}
		})
	}
}
