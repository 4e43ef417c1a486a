package cli

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"golog/client"
)

// Exit codes of the client commands; the table is in the package documentation.
const (
	ExitOK          = 0
	ExitUsage       = 1
	ExitNotApplied  = 2
	ExitMaybe       = 3
	ExitUnavailable = 4
	ExitNotFound    = 5
	ExitDenied      = 6
	ExitServer      = 7
)

// A UsageError is a mistake in how a command was called: a bad flag or argument, or a
// file (TLS, input) that cannot be used. ExitCode maps it to ExitUsage.
type UsageError struct {
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode returns the exit code for the error a command returned (see the package
// documentation). An error that is neither a *client.Error nor a UsageError (cobra's
// own, for an unknown command or flag; a failure to read the input or write the
// output) is ExitUsage.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		return ExitUsage
	}
	switch {
	case ce.Applied == client.AppliedMaybe:
		return ExitMaybe
	case ce.Reason == client.ReasonTLSHandshake, ce.Code == codes.PermissionDenied, ce.Code == codes.Unauthenticated:
		return ExitDenied
	case ce.Applied == client.AppliedNo:
		return ExitNotApplied
	case ce.Code == codes.OutOfRange:
		return ExitNotFound
	case ce.Code == codes.Unavailable, ce.Code == codes.DeadlineExceeded, ce.Code == codes.Canceled:
		return ExitUnavailable
	}
	return ExitServer
}
