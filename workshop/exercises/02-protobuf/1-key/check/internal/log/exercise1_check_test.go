package log_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"

	"golog/internal/log"
	"golog/internal/testenv"
)

// field returns the descriptor of Record's field called name, failing the test if the
// message has none of that number and kind.
func field(t *testing.T, name string, number protoreflect.FieldNumber, kind protoreflect.Kind) protoreflect.FieldDescriptor {
	t.Helper()
	fd := (&log.Record{}).ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	require.NotNil(t, fd, "log.v1.Record has no field %q yet: edit api/v1/log.proto and run make compile", name)
	require.Equal(t, number, fd.Number(), "the number of field %q", name)
	require.Equal(t, kind, fd.Kind(), "the type of field %q", name)
	return fd
}

func TestExercise1_Key(t *testing.T) {
	key := field(t, "key", 3, protoreflect.BytesKind)
	l, err := log.NewLog(t.TempDir(), log.Config{Logger: testenv.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })

	r := &log.Record{Value: []byte("v")}
	r.ProtoReflect().Set(key, protoreflect.ValueOfBytes([]byte("user-42")))
	off, err := l.Append(r)
	require.NoError(t, err)
	got, err := l.Read(off)
	require.NoError(t, err)
	require.Equal(t, "user-42", string(got.ProtoReflect().Get(key).Bytes()), "the key read back")
	require.Equal(t, "v", string(got.Value))
}
