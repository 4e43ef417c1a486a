package log_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"golog/internal/log"
	"golog/internal/testenv"
)

func TestExercise3_Headers(t *testing.T) {
	fd := (&log.Record{}).ProtoReflect().Descriptor().Fields().ByName("headers")
	require.NotNil(t, fd, "log.v1.Record has no field headers yet: edit api/v1/log.proto and run make compile")
	require.Equal(t, protoreflect.FieldNumber(5), fd.Number())
	require.True(t, fd.IsMap(), "headers must be a map<string, string>")

	r := &log.Record{Value: []byte("v")}
	headers := r.ProtoReflect().Mutable(fd).Map()
	for i := range 8 {
		headers.Set(protoreflect.ValueOfString(fmt.Sprintf("h%d", i)).MapKey(), protoreflect.ValueOfString(fmt.Sprint(i)))
	}

	var stores []string
	for i := range 10 {
		dir := t.TempDir()
		l, err := log.NewLog(dir, log.Config{Logger: testenv.Logger(t)})
		require.NoError(t, err)
		off, err := l.Append(r)
		require.NoError(t, err)
		got, err := l.Read(off)
		require.NoError(t, err)
		got.Offset = 0
		require.True(t, proto.Equal(r, got), "log %d: the record read back, headers included: got %v", i, got)
		require.NoError(t, l.Close())
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%020d.store", 0)))
		require.NoError(t, err)
		stores = append(stores, string(b))
	}
	for i := 1; i < len(stores); i++ {
		require.Equal(t, stores[0], stores[i], "the same record appended to two new logs gave different bytes (log 0 and log %d)", i)
	}
}
