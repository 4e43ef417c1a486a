package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/server"
	"golog/internal/storage"
)

// memLog is an HTTPLog in memory: a leader that appends and reads at once.
type memLog struct {
	mu      sync.Mutex
	records [][]byte
	appends int // Append calls that appended
}

func (l *memLog) Append(_ context.Context, req consensus.AppendRequest) (consensus.AppendResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	off := uint64(len(l.records))
	for _, v := range req.Values {
		l.records = append(l.records, slices.Clone(v))
	}
	l.appends++
	return consensus.AppendResult{Offset: off, Count: len(req.Values)}, nil
}

func (l *memLog) Read(_ context.Context, off uint64, _ consensus.Consistency) (*storage.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off >= uint64(len(l.records)) {
		return nil, consensus.ErrOffsetOutOfRange{
			ErrOffsetOutOfRange: storage.ErrOffsetOutOfRange{Offset: off, Lowest: 0, Next: uint64(len(l.records))},
		}
	}
	return &storage.Record{Value: l.records[off], Offset: off}, nil
}

func (l *memLog) Status() consensus.Status {
	return consensus.Status{ID: "mem", State: "Leader", LeaderID: "mem", Ready: true}
}

// FuzzHTTP sends the JSON API arbitrary requests: method, path and query, headers and
// body. The server must not panic, must answer one of the statuses it documents with
// a JSON body, and must append exactly once for a write it answers 200, and never for
// one it refuses.
func FuzzHTTP(f *testing.F) {
	f.Add("POST", "/", `{"record":{"value":"AA"}}`, "")
	f.Add("POST", "/?encoding=base64", `{"record":{"value":"AAE="}}`, "key-1")
	f.Add("GET", "/?offset=0", "", "")
	f.Add("GET", "/", `{"offset":0}`, "")
	f.Add("GET", "/?offset=0&consistency=local", "", "")
	f.Add("POST", "/", `{"record":{"value":"AA"},"extra":1}`, "")
	f.Add("POST", "/", `{"record":`, "")
	f.Add("PUT", "/", "", "")
	f.Add("GET", "/readyz", "", "")
	f.Add("GET", "/?offset=-1", "", "")
	documented := []int{200, 400, 404, 405, 406, 413, 500, 503}
	f.Fuzz(func(t *testing.T, method, target, body, key string) {
		log := &memLog{records: [][]byte{[]byte("AA")}}
		h := server.NewHTTPServer(server.HTTPConfig{Log: log, MaxBodyBytes: 4096})
		req, err := http.NewRequest(method, "http://golog"+target, bytes.NewReader([]byte(body)))
		if err != nil {
			return // not a request a client could send
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		require.Contains(t, documented, rec.Code, "%s %q: status", method, target)
		if method != http.MethodHead && rec.Body.Len() > 0 {
			require.True(t, json.Valid(rec.Body.Bytes()), "%s %q answered %d with %q", method, target, rec.Code, rec.Body)
		}
		appended := log.appends
		if method == http.MethodPost && rec.Code == http.StatusOK && req.URL.Path == "/" {
			require.Equal(t, 1, appended, "a write answered 200 appends once")
		} else {
			require.Zero(t, appended, "%s %q answered %d and appended", method, target, rec.Code)
		}
	})
}
