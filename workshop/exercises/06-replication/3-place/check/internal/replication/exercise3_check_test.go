package replication_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"golog/internal/config"
	"golog/internal/replication"
	"golog/internal/testenv"
)

// replicatorWithPlace returns a Replicator that appends to local and keeps its place in
// placeFile.
func replicatorWithPlace(t *testing.T, local replication.LocalLog, placeFile string) *replication.Replicator {
	t.Helper()
	certs := testenv.Certs(t)
	rootTLS, err := config.SetupTLSConfig(config.TLSConfig{
		CertFile: certs.RootClientCertFile, KeyFile: certs.RootClientKeyFile, CAFile: certs.CAFile,
	})
	require.NoError(t, err)
	c := replication.Config{
		Log:         local,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(rootTLS))},
		Logger:      testenv.Logger(t),
	}
	f := reflect.ValueOf(&c).Elem().FieldByName("PlaceFile")
	require.True(t, f.IsValid(), "replication.Config has no field PlaceFile yet")
	f.SetString(placeFile)
	r, err := replication.New(c)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

func TestExercise3_RememberThePlace(t *testing.T) {
	local := newLog(t)
	place := filepath.Join(t.TempDir(), "place")
	peerLog, addr, _ := startPeer(t)
	produce(t, peerLog, "p", "one", "two", "three")

	first := replicatorWithPlace(t, local, place)
	require.NoError(t, first.Join("p", addr))
	waitForContents(t, local, "p/one", "p/two", "p/three")
	require.NoError(t, first.Close()) // the server stops

	produce(t, peerLog, "p", "four")
	second := replicatorWithPlace(t, local, place) // and starts again
	require.NoError(t, second.Join("p", addr))
	waitForContents(t, local, "p/one", "p/two", "p/three", "p/four")
}
