package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/server"
	"golog/internal/storage"
	"golog/internal/testenv"
)

// harness is the HTTP server on a real TCP port of 127.0.0.1, in front of a replicated
// log of one server.
type harness struct {
	t      *testing.T
	log    *consensus.DistributedLog
	url    string
	client *http.Client
}

// options changes the harness's defaults.
type options struct {
	maxBodyBytes  int64  // HTTPConfig.MaxBodyBytes
	maxStoreBytes uint64 // the log's Segment.MaxStoreBytes
}

func newHarness(t *testing.T, opts options) *harness {
	t.Helper()
	l := server.NewTestLog(t, func(c *consensus.Config) { c.Segment.MaxStoreBytes = opts.maxStoreBytes })
	srv := httptest.NewServer(server.NewHTTPServer(server.HTTPConfig{
		Log:          l,
		MaxBodyBytes: opts.maxBodyBytes,
		Logger:       testenv.Logger(t),
	}))
	t.Cleanup(srv.Close)
	return &harness{t: t, log: l, url: srv.URL, client: srv.Client()}
}

// appendValue appends value to the harness's log and returns its offset.
func (h *harness) appendValue(value []byte) uint64 {
	h.t.Helper()
	res, err := h.log.Append(h.t.Context(), consensus.AppendRequest{Values: [][]byte{value}})
	require.NoError(h.t, err)
	return res.Offset
}

// read reads off from the harness's log.
func (h *harness) read(off uint64) (*storage.Record, error) {
	return h.log.Read(h.t.Context(), off, consensus.Local)
}

// response is what the server answered.
type response struct {
	status int
	header http.Header
	body   string
}

// send sends a request the way curl -d does, with the body labelled as a form. It
// does not fail the test, so it may be called from any goroutine.
func (h *harness) send(method, target, body string) (response, error) {
	req, err := http.NewRequest(method, h.url+target, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// do is send for the test's goroutine.
func (h *harness) do(method, target, body string) response {
	h.t.Helper()
	resp, err := h.send(method, target, body)
	require.NoError(h.t, err)
	return resp
}

// requireOK checks a 200 response whose body is exactly wantBody.
func requireOK(t *testing.T, wantBody string, resp response) {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
	require.Equal(t, "application/json", resp.header.Get("Content-Type"))
	require.Equal(t, wantBody, resp.body)
}

// requireError checks an error response: the status, and a JSON body {"error":...}
// whose message contains wantMessage.
func requireError(t *testing.T, wantStatus int, wantMessage string, resp response) {
	t.Helper()
	require.Equal(t, wantStatus, resp.status, "body: %s", resp.body)
	require.Equal(t, "application/json", resp.header.Get("Content-Type"))
	var body struct {
		Error   string  `json:"error"`
		Applied string  `json:"applied"`
		Lowest  *uint64 `json:"lowest"`
	}
	dec := json.NewDecoder(strings.NewReader(resp.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&body), "body: %s", resp.body)
	require.Contains(t, body.Error, wantMessage)
}

// TestContract runs the commands of the README, byte for byte.
func TestContract(t *testing.T) {
	h := newHarness(t, options{})

	for i, value := range []string{"AA", "BB", "CC"} {
		resp := h.do(http.MethodPost, "/", `{"record": {"value": "`+value+`"}}`)
		requireOK(t, fmt.Sprintf(`{"offset":%d}`, i)+"\n", resp)
	}

	resp := h.do(http.MethodGet, "/", `{"offset": 0}`)
	requireOK(t, `{"record":{"value":"AA","offset":0}}`+"\n", resp)

	resp = h.do(http.MethodGet, "/?offset=1", "")
	requireOK(t, `{"record":{"value":"BB","offset":1}}`+"\n", resp)

	resp = h.do(http.MethodHead, "/?offset=2", "")
	requireOK(t, "", resp)
}

// TestTextValues checks that a value's UTF-8 bytes are what the log stores, and that
// they come back unchanged.
func TestTextValues(t *testing.T) {
	values := []string{
		"",
		"héllo, wörld",
		"<b>&amp;</b>",
		"tab\tnewline\n\"quotes\" \\ backslash",
		"nul \x00 and emoji 🎉",
	}
	h := newHarness(t, options{})
	for _, value := range values {
		body, err := json.Marshal(map[string]any{"record": map[string]string{"value": value}})
		require.NoError(t, err)
		var produced struct{ Offset uint64 }
		require.NoError(t, json.Unmarshal([]byte(h.do(http.MethodPost, "/", string(body)).body), &produced))

		stored, err := h.read(produced.Offset)
		require.NoError(t, err)
		require.Equal(t, value, string(stored.Value), "stored bytes")

		resp := h.do(http.MethodGet, fmt.Sprintf("/?offset=%d", produced.Offset), "")
		require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
		var consumed struct {
			Record struct {
				Value  string
				Offset uint64
			}
		}
		require.NoError(t, json.Unmarshal([]byte(resp.body), &consumed))
		require.Equal(t, value, consumed.Record.Value)
		require.Equal(t, produced.Offset, consumed.Record.Offset)
	}

	// JSON escapes are decoded before the value is stored.
	resp := h.do(http.MethodPost, "/", `{"record":{"value":"caf\u00e9"}}`)
	requireOK(t, fmt.Sprintf(`{"offset":%d}`, len(values))+"\n", resp)
	resp = h.do(http.MethodGet, fmt.Sprintf("/?offset=%d", len(values)), "")
	requireOK(t, fmt.Sprintf(`{"record":{"value":"café","offset":%d}}`, len(values))+"\n", resp)
}

// TestBase64 stores every byte value through ?encoding=base64 and reads it back.
func TestBase64(t *testing.T) {
	h := newHarness(t, options{})
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	encoded := base64.StdEncoding.EncodeToString(binary)

	resp := h.do(http.MethodPost, "/?encoding=base64", `{"record":{"value":"`+encoded+`"}}`)
	requireOK(t, `{"offset":0}`+"\n", resp)
	stored, err := h.read(0)
	require.NoError(t, err)
	require.Equal(t, binary, stored.Value)

	resp = h.do(http.MethodGet, "/?encoding=base64", `{"offset":0}`)
	requireOK(t, `{"record":{"value":"`+encoded+`","offset":0}}`+"\n", resp)
	resp = h.do(http.MethodGet, "/?offset=0&encoding=base64", "")
	requireOK(t, `{"record":{"value":"`+encoded+`","offset":0}}`+"\n", resp)

	// Asked for as text, the binary record is refused rather than mangled.
	resp = h.do(http.MethodGet, "/?offset=0", "")
	requireError(t, http.StatusNotAcceptable, "?encoding=base64", resp)

	// A text record can be read as base64 too: "AA" is 0x41 0x41.
	requireOK(t, `{"offset":1}`+"\n", h.do(http.MethodPost, "/", `{"record":{"value":"AA"}}`))
	resp = h.do(http.MethodGet, "/?offset=1&encoding=base64", "")
	requireOK(t, `{"record":{"value":"QUE=","offset":1}}`+"\n", resp)
}

// TestErrors checks every way a request can be refused, and that a refused request
// leaves the log as it was.
func TestErrors(t *testing.T) {
	tooBig := `{"record":{"value":"` + strings.Repeat("x", 200) + `"}}`
	tests := []struct {
		name     string
		opts     options
		closeLog bool // close the log before the request

		method, target, body string

		wantStatus  int
		wantMessage string // part of the error message
	}{
		// Produce: the body.
		{name: "malformed JSON", method: "POST", target: "/", body: `{"record":`,
			wantStatus: 400, wantMessage: "malformed JSON"},
		{name: "a form, not JSON", method: "POST", target: "/", body: `record=AA`,
			wantStatus: 400, wantMessage: "malformed JSON"},
		{name: "trailing garbage", method: "POST", target: "/", body: `{"record":{"value":"AA"}} x`,
			wantStatus: 400, wantMessage: "unexpected data after the JSON value"},
		{name: "two records", method: "POST", target: "/", body: `{"record":{"value":"AA"}}{"record":{"value":"BB"}}`,
			wantStatus: 400, wantMessage: "unexpected data after the JSON value"},
		{name: "unknown field", method: "POST", target: "/", body: `{"record":{"value":"AA"},"key":"k"}`,
			wantStatus: 400, wantMessage: `unknown field "key"`},
		{name: "misspelt record", method: "POST", target: "/", body: `{"recrod":{"value":"AA"}}`,
			wantStatus: 400, wantMessage: `unknown field "recrod"`},
		{name: "offset in the record", method: "POST", target: "/", body: `{"record":{"value":"AA","offset":7}}`,
			wantStatus: 400, wantMessage: `unknown field "offset"`},
		{name: "empty body", method: "POST", target: "/", body: ``,
			wantStatus: 400, wantMessage: "empty request body"},
		{name: "no record", method: "POST", target: "/", body: `{}`,
			wantStatus: 400, wantMessage: `missing "record"`},
		{name: "null record", method: "POST", target: "/", body: `{"record":null}`,
			wantStatus: 400, wantMessage: `missing "record"`},
		{name: "no value", method: "POST", target: "/", body: `{"record":{}}`,
			wantStatus: 400, wantMessage: `missing "value"`},
		{name: "value is a number", method: "POST", target: "/", body: `{"record":{"value":42}}`,
			wantStatus: 400, wantMessage: "cannot be a JSON number"},
		{name: "body is an array", method: "POST", target: "/", body: `[{"record":{"value":"AA"}}]`,
			wantStatus: 400, wantMessage: "the body cannot be a JSON array"},
		{name: "record is a string", method: "POST", target: "/", body: `{"record":"AA"}`,
			wantStatus: 400, wantMessage: "cannot be a JSON string"},
		{name: "body not UTF-8", method: "POST", target: "/", body: "{\"record\":{\"value\":\"\xff\xfe\"}}",
			wantStatus: 400, wantMessage: "not valid UTF-8"},
		{name: "bad base64", method: "POST", target: "/?encoding=base64", body: `{"record":{"value":"AA"}}`,
			wantStatus: 400, wantMessage: "not valid base64"},

		// Produce: the query.
		{name: "unknown encoding", method: "POST", target: "/?encoding=hex", body: `{"record":{"value":"AA"}}`,
			wantStatus: 400, wantMessage: `unknown encoding "hex"`},
		{name: "misspelt query parameter", method: "POST", target: "/?encodng=base64", body: `{"record":{"value":"AA"}}`,
			wantStatus: 400, wantMessage: `unknown query parameter "encodng"`},
		{name: "offset on produce", method: "POST", target: "/?offset=5", body: `{"record":{"value":"AA"}}`,
			wantStatus: 400, wantMessage: `unknown query parameter "offset"`},
		{name: "malformed query", method: "POST", target: "/?encoding=%zz", body: `{"record":{"value":"AA"}}`,
			wantStatus: 400, wantMessage: "malformed query string"},

		// Produce: limits and a closed log.
		{name: "body over the limit", opts: options{maxBodyBytes: 100}, method: "POST", target: "/", body: tooBig,
			wantStatus: 413, wantMessage: "larger than 100 bytes"},
		{name: "record the log cannot store", opts: options{maxStoreBytes: 128}, method: "POST", target: "/", body: tooBig,
			wantStatus: 413, wantMessage: "too large"},
		{name: "produce to a closed log", closeLog: true, method: "POST", target: "/", body: `{"record":{"value":"AA"}}`,
			wantStatus: 503, wantMessage: "closed"},

		// Consume: the body.
		{name: "no offset at all", method: "GET", target: "/", body: ``,
			wantStatus: 400, wantMessage: "missing offset"},
		{name: "no offset in the body", method: "GET", target: "/", body: `{}`,
			wantStatus: 400, wantMessage: `missing "offset"`},
		{name: "negative offset", method: "GET", target: "/", body: `{"offset":-1}`,
			wantStatus: 400, wantMessage: "cannot be a JSON number -1"},
		{name: "fractional offset", method: "GET", target: "/", body: `{"offset":1.5}`,
			wantStatus: 400, wantMessage: "cannot be a JSON number 1.5"},
		{name: "offset as a string", method: "GET", target: "/", body: `{"offset":"0"}`,
			wantStatus: 400, wantMessage: "cannot be a JSON string"},
		{name: "trailing brace", method: "GET", target: "/", body: `{"offset":0}}`,
			wantStatus: 400, wantMessage: "unexpected data after the JSON value"},
		{name: "unknown field in consume", method: "GET", target: "/", body: `{"offset":0,"encoding":"base64"}`,
			wantStatus: 400, wantMessage: `unknown field "encoding"`},
		{name: "truncated consume", method: "GET", target: "/", body: `{"offset":`,
			wantStatus: 400, wantMessage: "malformed JSON"},

		// Consume: the query.
		{name: "offset not a number", method: "GET", target: "/?offset=abc",
			wantStatus: 400, wantMessage: `bad offset "abc"`},
		{name: "negative offset in the query", method: "GET", target: "/?offset=-1",
			wantStatus: 400, wantMessage: `bad offset "-1"`},
		{name: "empty offset in the query", method: "GET", target: "/?offset=",
			wantStatus: 400, wantMessage: `bad offset ""`},
		{name: "offset past uint64", method: "GET", target: "/?offset=18446744073709551616",
			wantStatus: 400, wantMessage: "bad offset"},
		{name: "offset twice in the query", method: "GET", target: "/?offset=0&offset=1",
			wantStatus: 400, wantMessage: "more than once"},
		{name: "offset in query and body", method: "GET", target: "/?offset=0", body: `{"offset":0}`,
			wantStatus: 400, wantMessage: "both in the query and in the body"},

		// Consume: what the log says.
		{name: "offset past the end", method: "GET", target: "/?offset=2",
			wantStatus: 404, wantMessage: "offset 2 is out of range: the log holds offsets 0 to 1"},
		{name: "largest offset", method: "GET", target: "/", body: `{"offset":18446744073709551615}`,
			wantStatus: 404, wantMessage: "18446744073709551615"},
		{name: "binary record as text", method: "GET", target: "/?offset=1",
			wantStatus: 406, wantMessage: "read it with ?encoding=base64"},
		{name: "consume over the limit", opts: options{maxBodyBytes: 10}, method: "GET", target: "/", body: `{"offset":    0}`,
			wantStatus: 413, wantMessage: "larger than 10 bytes"},
		{name: "consume from a closed log", closeLog: true, method: "GET", target: "/?offset=0",
			wantStatus: 503, wantMessage: "closed"},

		// Routing.
		{name: "other path", method: "GET", target: "/records?offset=0",
			wantStatus: 404, wantMessage: `no such path "/records"`},
		{name: "PUT", method: "PUT", target: "/", body: `{"record":{"value":"AA"}}`,
			wantStatus: 405, wantMessage: "method PUT is not allowed"},
		{name: "DELETE", method: "DELETE", target: "/?offset=0",
			wantStatus: 405, wantMessage: "method DELETE is not allowed"},
		{name: "PATCH", method: "PATCH", target: "/", body: `{"record":{"value":"AA"}}`,
			wantStatus: 405, wantMessage: "method PATCH is not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			for _, value := range [][]byte{[]byte("AA"), {0xff, 0x00, 0xfe}} {
				h.appendValue(value)
			}
			if tc.closeLog {
				require.NoError(t, h.log.Close())
			}

			resp := h.do(tc.method, tc.target, tc.body)

			requireError(t, tc.wantStatus, tc.wantMessage, resp)
			if tc.wantStatus == http.StatusMethodNotAllowed {
				require.Equal(t, "GET, HEAD, POST", resp.header.Get("Allow"))
			}
			require.Equal(t, uint64(2), h.log.Status().NextOffset, "a refused request changed the log")
		})
	}
}

// TestOutOfRangeOnEmptyLog checks the 404 of a log that holds no record yet.
func TestOutOfRangeOnEmptyLog(t *testing.T) {
	h := newHarness(t, options{})
	resp := h.do(http.MethodGet, "/?offset=0", "")
	requireError(t, http.StatusNotFound, "offset 0 is out of range: the log is empty", resp)
}

// TestConcurrentProduce sends many produces at once: each gets its own offset, and
// together they are 0 to n-1 with no gap.
func TestConcurrentProduce(t *testing.T) {
	const n = 50
	h := newHarness(t, options{})

	offsets := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := h.send(http.MethodPost, "/", fmt.Sprintf(`{"record":{"value":"v%d"}}`, i))
			if err == nil && resp.status != http.StatusOK {
				err = fmt.Errorf("status %d: %s", resp.status, resp.body)
			}
			if err == nil {
				var produced struct{ Offset uint64 }
				err = json.Unmarshal([]byte(resp.body), &produced)
				offsets[i] = produced.Offset
			}
			errs[i] = err
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i)
	}
	require.Equal(t, want, slices.Sorted(slices.Values(offsets)))
	for i, offset := range offsets {
		resp := h.do(http.MethodGet, fmt.Sprintf("/?offset=%d", offset), "")
		requireOK(t, fmt.Sprintf(`{"record":{"value":"v%d","offset":%d}}`, i, offset)+"\n", resp)
	}
	require.Equal(t, uint64(n), h.log.Status().NextOffset)
}

// failingLog is a log whose every call fails with an error the server does not know.
type failingLog struct{ server.HTTPLog }

func (failingLog) Append(context.Context, consensus.AppendRequest) (consensus.AppendResult, error) {
	return consensus.AppendResult{}, errors.New("disk on fire")
}

func (failingLog) Read(context.Context, uint64, consensus.Consistency) (*storage.Record, error) {
	return nil, errors.New("disk on fire")
}

// TestInternalError checks that an unexpected error from the log is a 500 whose
// details stay in the server's log.
func TestInternalError(t *testing.T) {
	srv := httptest.NewServer(server.NewHTTPServer(server.HTTPConfig{Log: failingLog{}, Logger: testenv.Logger(t)}))
	t.Cleanup(srv.Close)
	h := &harness{t: t, url: srv.URL, client: srv.Client()}

	for _, resp := range []response{
		h.do(http.MethodPost, "/", `{"record":{"value":"AA"}}`),
		h.do(http.MethodGet, "/?offset=0", ""),
	} {
		requireError(t, http.StatusInternalServerError, "internal error", resp)
		require.NotContains(t, resp.body, "disk on fire")
	}
}

func TestNewHTTPServerNeedsALog(t *testing.T) {
	require.Panics(t, func() { server.NewHTTPServer(server.HTTPConfig{}) })
}

// TestBelowRetention checks the 404 of an offset older records were removed from: the
// JSON error says where the log starts now.
func TestBelowRetention(t *testing.T) {
	l := server.NewTestLog(t, func(c *consensus.Config) {
		c.Segment.MaxIndexBytes = 4 * 12 // four records a segment
		c.Retention = consensus.Retention{MaxBytes: 1, CheckInterval: 10 * time.Millisecond}
	})
	srv := httptest.NewServer(server.NewHTTPServer(server.HTTPConfig{Log: l, Logger: testenv.Logger(t)}))
	t.Cleanup(srv.Close)
	h := &harness{t: t, log: l, url: srv.URL, client: srv.Client()}
	for i := range 10 {
		h.appendValue(fmt.Appendf(nil, "v%d", i))
	}
	require.Eventually(t, func() bool { return l.Status().LowestOffset == 8 }, 10*time.Second, 10*time.Millisecond,
		"retention keeps the last segment only")

	resp := h.do(http.MethodGet, "/?offset=3", "")
	requireError(t, http.StatusNotFound, "below the lowest offset", resp)
	var body struct{ Lowest *uint64 }
	require.NoError(t, json.Unmarshal([]byte(resp.body), &body))
	require.NotNil(t, body.Lowest)
	require.Equal(t, uint64(8), *body.Lowest)
	requireOK(t, `{"record":{"value":"v8","offset":8}}`+"\n", h.do(http.MethodGet, "/?offset=8", ""))
}
