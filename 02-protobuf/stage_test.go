// The tour of chapter 02: the log of chapter 01, whose records are protobuf messages.
//
//	go test -v -debug=true
package golog_test

import (
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	api "golog/api/v1"
	"golog/internal/log"
	"golog/internal/server"
	"golog/internal/testenv"
)

func TestTour(t *testing.T) {
	dir := testenv.TempDir(t)
	var cfg log.Config
	cfg.Segment.MaxIndexBytes = 3 * 12 // three index entries: a new segment every three records
	cfg.Logger = testenv.Logger(t)

	t.Log("open a log whose segments hold three records each")
	l, err := log.NewLog(dir, cfg)
	require.NoError(t, err)

	for i, value := range []string{"a", "b", "c", "d", "e"} {
		off, err := l.Append(&log.Record{Value: []byte(value)})
		require.NoError(t, err)
		require.Equal(t, uint64(i), off)
		t.Logf("appended %q at offset %d", value, off)
	}
	rec, err := l.Read(3)
	require.NoError(t, err)
	require.Equal(t, "d", string(rec.Value))
	t.Logf("read offset 3 back from the second segment: %q", rec.Value)

	_, err = l.Read(5)
	require.ErrorAs(t, err, new(log.ErrOffsetOutOfRange))
	t.Logf("offset 5 is not written yet: %v", err)

	t.Log("close and reopen: the log continues where it stopped")
	require.NoError(t, l.Close())
	l, err = log.NewLog(dir, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	require.Equal(t, uint64(5), l.NextOffset())

	t.Log("serve the log over HTTP and talk to it like curl does")
	srv := httptest.NewServer(server.NewHTTPServer(server.HTTPConfig{Log: l, Logger: testenv.Logger(t)}))
	t.Cleanup(srv.Close)

	produced := request(t, http.MethodPost, srv.URL, `{"record": {"value": "AA"}}`)
	require.Equal(t, `{"offset":5}`, produced)
	t.Logf("POST {\"record\": {\"value\": \"AA\"}} -> %s", produced)

	consumed := request(t, http.MethodGet, srv.URL, `{"offset": 5}`)
	require.Equal(t, `{"record":{"value":"AA","offset":5}}`, consumed)
	t.Logf("GET {\"offset\": 5} -> %s", consumed)
}

// request sends body to url like `curl -X method url -d body` and returns the
// response body without its trailing newline.
func request(t *testing.T, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "response: %s", got)
	return strings.TrimSuffix(string(got), "\n")
}

func TestTourRecordsAreProtobuf(t *testing.T) {
	l, err := log.NewLog(testenv.TempDir(t), log.Config{Logger: testenv.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })

	_, err = l.Append(&api.Record{Value: []byte("AA")})
	require.NoError(t, err)
	_, err = l.Append(&api.Record{Value: []byte("BB")})
	require.NoError(t, err)

	t.Log("read the raw store through Reader: frames of [length][crc][payload]")
	raw, err := io.ReadAll(l.Reader())
	require.NoError(t, err)
	for off := uint64(0); len(raw) > 0; off++ {
		length := binary.BigEndian.Uint32(raw[0:4])
		payload := raw[8 : 8+length]
		raw = raw[8+length:]

		// Any protobuf library with api/v1/log.proto can decode a payload.
		var rec api.Record
		require.NoError(t, proto.Unmarshal(payload, &rec))
		require.Equal(t, off, rec.Offset)
		t.Logf("payload % x is log.v1.Record{value: %q, offset: %d}", payload, rec.Value, rec.Offset)
	}
}
