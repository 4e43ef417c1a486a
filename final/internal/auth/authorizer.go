package auth

import (
	"errors"
	"fmt"

	"github.com/casbin/casbin/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Objects and actions the server asks Authorize about.
const (
	// ObjectWildcard is the object that stands for the whole log. The server asks about
	// it on every RPC; a policy line with object "*" covers every object.
	ObjectWildcard = "*"
	// ActionProduce is appending records to the log.
	ActionProduce = "produce"
	// ActionConsume is reading records from the log.
	ActionConsume = "consume"
	// ActionCluster is what servers ask of each other besides Raft (the Cluster
	// service): only server identities should have it.
	ActionCluster = "cluster"
)

// Authorizer decides whether a subject may perform an action on an object, by a casbin
// model and policy read once by New.
//
// An Authorizer is safe for concurrent use. The policy never changes after New, and
// casbin's Enforce only reads the model and policy; the one thing it writes, a cache of
// compiled matchers, is a sync.Map. (casbin's SyncedEnforcer takes just a read lock
// around Enforce: its lock orders Enforce against policy changes, which we do not
// make.) If you add policy reloading, switch to casbin.SyncedEnforcer.
type Authorizer struct {
	enforcer *casbin.Enforcer
}

// New returns an Authorizer for the casbin model file and policy file at the given
// paths. It returns an error when a path is empty, a file is missing or unreadable, the
// model does not parse, or the model cannot evaluate a (subject, object, action)
// request, so a broken ACL stops the server at start rather than at its first RPC.
func New(model, policy string) (*Authorizer, error) {
	if model == "" || policy == "" {
		return nil, errors.New("auth: both a model file and a policy file are required")
	}
	enforcer, err := casbin.NewEnforcer(model, policy)
	if err != nil {
		return nil, fmt.Errorf("auth: load model %s and policy %s: %w", model, policy, err)
	}
	// Evaluate one request now: a matcher that does not compile, or a request
	// definition that does not take (sub, obj, act), fails here instead of in Authorize.
	if _, err := enforcer.Enforce("", ObjectWildcard, ActionConsume); err != nil {
		return nil, fmt.Errorf("auth: model %s cannot evaluate (subject, object, action): %w", model, err)
	}
	return &Authorizer{enforcer: enforcer}, nil
}

// Authorize returns nil if the policy allows subject to perform action on object.
// Otherwise it returns a gRPC status error with code PermissionDenied and a message
// such as `"nobody" may not produce on "*"`. If casbin fails to evaluate the request
// (New's trial request catches the usual causes), it returns code Internal: an error
// never allows.
func (a *Authorizer) Authorize(subject, object, action string) error {
	allowed, err := a.enforcer.Enforce(subject, object, action)
	if err != nil {
		return status.Errorf(codes.Internal, "authorize %q to %s on %q: %v", subject, action, object, err)
	}
	if !allowed {
		return status.Errorf(codes.PermissionDenied, "%q may not %s on %q", subject, action, object)
	}
	return nil
}
