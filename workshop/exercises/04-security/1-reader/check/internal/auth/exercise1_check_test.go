package auth_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"golog/internal/auth"
	"golog/internal/testenv"
)

func TestExercise1_Reader(t *testing.T) {
	a, err := auth.New(testenv.ACL(t))
	require.NoError(t, err)
	require.NoError(t, a.Authorize("reader", auth.ObjectWildcard, auth.ActionConsume), "reader may consume")
	err = a.Authorize("reader", auth.ObjectWildcard, auth.ActionProduce)
	require.Equal(t, codes.PermissionDenied, status.Code(err), "reader may not produce: %v", err)
	require.NoError(t, a.Authorize("root", auth.ObjectWildcard, auth.ActionProduce), "root still may")
}
