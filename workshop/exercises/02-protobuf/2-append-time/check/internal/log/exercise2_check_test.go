package log_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"

	"golog/internal/log"
	"golog/internal/testenv"
)

func TestExercise2_AppendTime(t *testing.T) {
	fd := (&log.Record{}).ProtoReflect().Descriptor().Fields().ByName("append_time_unix_nano")
	require.NotNil(t, fd, "log.v1.Record has no field append_time_unix_nano yet: edit api/v1/log.proto and run make compile")
	require.Equal(t, protoreflect.FieldNumber(4), fd.Number())
	require.Equal(t, protoreflect.Int64Kind, fd.Kind())

	l, err := log.NewLog(t.TempDir(), log.Config{Logger: testenv.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })

	before := time.Now().UnixNano()
	r := &log.Record{Value: []byte("v")}
	r.ProtoReflect().Set(fd, protoreflect.ValueOfInt64(1)) // what a producer sent: ignored
	off, err := l.Append(r)
	require.NoError(t, err)
	after := time.Now().UnixNano()
	require.Equal(t, int64(1), r.ProtoReflect().Get(fd).Int(), "Append must not modify the caller's record")

	got, err := l.Read(off)
	require.NoError(t, err)
	at := got.ProtoReflect().Get(fd).Int()
	require.GreaterOrEqual(t, at, before, "the append time read back")
	require.LessOrEqual(t, at, after, "the append time read back")
}
