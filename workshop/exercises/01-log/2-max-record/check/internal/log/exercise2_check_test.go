package log_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/log"
)

func TestExercise2_MaxRecordBytes(t *testing.T) {
	var c log.Config
	field := reflect.ValueOf(&c.Segment).Elem().FieldByName("MaxRecordBytes")
	require.True(t, field.IsValid(), "log.Config.Segment has no field MaxRecordBytes yet")
	require.Equal(t, reflect.Uint64, field.Kind(), "MaxRecordBytes must be a uint64")
	field.SetUint(10)
	l := openLog(t, t.TempDir(), c)

	off, err := l.Append(&log.Record{Value: bytes.Repeat([]byte("x"), 10)})
	require.NoError(t, err, "a value of exactly MaxRecordBytes is accepted")
	require.Equal(t, uint64(0), off)

	_, err = l.Append(&log.Record{Value: bytes.Repeat([]byte("x"), 11)})
	require.ErrorIs(t, err, log.ErrRecordTooLarge, "a value one byte over MaxRecordBytes")
	require.Equal(t, uint64(1), l.NextOffset(), "a refused record is not written")

	unlimited := openLog(t, t.TempDir(), log.Config{})
	_, err = unlimited.Append(&log.Record{Value: bytes.Repeat([]byte("x"), 1000)})
	require.NoError(t, err, "MaxRecordBytes 0 sets no limit")
}
