package storage

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecordEncodingRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		record *Record
	}{
		{"empty value", &Record{Value: []byte{}, Offset: 0}},
		{"text", &Record{Value: []byte("hello"), Offset: 1}},
		{"binary", &Record{Value: []byte{0, 0xff, 0, 0x80}, Offset: 1 << 40}},
		{"largest offset", &Record{Value: []byte("x"), Offset: 1<<64 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := marshalRecord(tt.record)
			require.NoError(t, err)

			got, err := unmarshalRecord(payload)

			require.NoError(t, err)
			require.Equal(t, tt.record.Offset, got.Offset)
			require.Equal(t, len(tt.record.Value), len(got.Value))
			require.Equal(t, string(tt.record.Value), string(got.Value))
			for i := range payload {
				payload[i] = 0xAA
			}
			require.Equal(t, string(tt.record.Value), string(got.Value), "the record must not share the payload's memory")
		})
	}
}

func TestAtOffset(t *testing.T) {
	r := &Record{Value: []byte("v"), Offset: 3}

	got := atOffset(r, 9)

	require.Equal(t, uint64(9), got.Offset)
	require.Equal(t, []byte("v"), got.Value)
	require.Equal(t, uint64(3), r.Offset, "the original is not modified")
}

// TestRecordEncodingIsProtobuf pins the bytes on disk: the protobuf wire format of
// log.v1.Record, which any protobuf library can decode.
func TestRecordEncodingIsProtobuf(t *testing.T) {
	payload, err := marshalRecord(&Record{Value: []byte("AA"), Offset: 5})
	require.NoError(t, err)
	require.Equal(t, []byte{0x0a, 0x02, 'A', 'A', 0x10, 0x05}, payload)
}

func TestUnmarshalRecordRejectsGarbage(t *testing.T) {
	_, err := unmarshalRecord([]byte{0x0a, 0x05, 'A'}) // value says 5 bytes, has 1
	require.ErrorContains(t, err, "decode record")
}
