package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"unicode/utf8"

	"golog/internal/consensus"
	"golog/internal/storage"
)

// DefaultMaxBodyBytes is the largest request body accepted when HTTPConfig.MaxBodyBytes
// is not set: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// HTTPLog is what the HTTP server needs from the log; *consensus.DistributedLog is
// one. Its methods must be safe for concurrent use.
type HTTPLog interface {
	Append(ctx context.Context, req consensus.AppendRequest) (consensus.AppendResult, error)
	Read(ctx context.Context, off uint64, c consensus.Consistency) (*storage.Record, error)
	Status() consensus.Status
}

var _ HTTPLog = (*consensus.DistributedLog)(nil)

// Forwarder sends an append to the leader at leaderAddr and returns its answer (the
// leader's offset). The agent's forwards it over gRPC with the server's own certificate.
type Forwarder func(ctx context.Context, leaderAddr string, req consensus.AppendRequest) (consensus.AppendResult, error)

// HTTPConfig configures NewHTTPServer.
type HTTPConfig struct {
	// Log is where records are appended and read from. Required.
	Log HTTPLog
	// Forward, if set, sends a write that reached a follower to the leader. Nil: such a
	// write gets 503 naming the leader.
	Forward Forwarder
	// MaxBodyBytes is the largest request body accepted; a larger one gets 413.
	// Zero or less means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives a Debug line per request and an Error line per failed one (500).
	// Nil discards.
	Logger *slog.Logger
}

// NewHTTPServer returns the handler of the JSON API described in the package
// documentation. The handler is safe for concurrent use. NewHTTPServer panics if
// cfg.Log is nil, as that is a mistake in the calling code.
func NewHTTPServer(cfg HTTPConfig) http.Handler {
	if cfg.Log == nil {
		panic("server.NewHTTPServer: HTTPConfig.Log is nil")
	}
	s := &httpServer{
		log:          cfg.Log,
		forward:      cfg.Forward,
		maxBodyBytes: cfg.MaxBodyBytes,
		logger:       cfg.Logger,
	}
	if s.maxBodyBytes <= 0 {
		s.maxBodyBytes = DefaultMaxBodyBytes
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// httpServer is the handler NewHTTPServer returns. Its fields are set once, so it
// needs no lock.
type httpServer struct {
	log          HTTPLog
	forward      Forwarder
	maxBodyBytes int64
	logger       *slog.Logger
}

// The JSON documents of the API. Pointers tell a missing field from a zero one:
// {"offset":0} asks for offset 0, {} forgets to ask.
type (
	produceRequest struct {
		Record *struct {
			Value *string `json:"value"`
		} `json:"record"`
	}
	produceResponse struct {
		Offset uint64 `json:"offset"`
	}
	consumeRequest struct {
		Offset *uint64 `json:"offset"`
	}
	consumeResponse struct {
		Record jsonRecord `json:"record"`
	}
	errorResponse struct {
		Error string `json:"error"`
		// Applied says, for a write that failed, whether it was applied: "no" (retry
		// freely) or "maybe" (retry only with the same Idempotency-Key).
		Applied string `json:"applied,omitempty"`
		// Lowest is, for a read below the records the log holds, the lowest offset it
		// holds.
		Lowest *uint64 `json:"lowest,omitempty"`
	}
	statusResponse struct {
		Status string `json:"status"`
		Leader string `json:"leader,omitempty"`
	}
)

// jsonRecord is a storage.Record as the API shows it: Value is the record's bytes as
// text, or as base64 when the client asks for ?encoding=base64.
type jsonRecord struct {
	Value  string `json:"value"`
	Offset uint64 `json:"offset"`
}

// The shapes of the request bodies, quoted in error messages.
const (
	produceShape = `{"record":{"value":"..."}}`
	consumeShape = `{"offset":N}`
)

// allowedMethods is the Allow header of a 405 response.
const allowedMethods = "GET, HEAD, POST"

// ServeHTTP routes a request to produce or consume, or to the health checks, and
// writes the error either returns.
func (s *httpServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	switch {
	case r.URL.Path == healthzPath:
		err = s.healthz(w, r)
	case r.URL.Path == readyzPath:
		err = s.readyz(w, r)
	case r.URL.Path != "/":
		err = &httpError{status: http.StatusNotFound, message: fmt.Sprintf("no such path %q: the API is at /", r.URL.Path)}
	case r.Method == http.MethodPost:
		err = s.produce(w, r)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		err = s.consume(w, r)
	default:
		w.Header().Set("Allow", allowedMethods)
		err = &httpError{status: http.StatusMethodNotAllowed,
			message: fmt.Sprintf("method %s is not allowed: POST appends a record, GET reads one", r.Method)}
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

// idempotencyKeyHeader names the header that makes a produce idempotent: requests with
// the same key append their record once (see appendRequest).
const idempotencyKeyHeader = "Idempotency-Key"

// maxIdempotencyKeyBytes bounds an idempotency key.
const maxIdempotencyKeyBytes = 128

// produce appends the record in the body and answers with its offset.
func (s *httpServer) produce(w http.ResponseWriter, r *http.Request) error {
	query, err := parseQuery(r.URL.RawQuery, false)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req produceRequest
	if err := decodeJSON(body, &req); err != nil {
		return badRequest("%s; want %s", describeJSONError(err), produceShape)
	}
	if req.Record == nil {
		return badRequest("missing \"record\"; want %s", produceShape)
	}
	if req.Record.Value == nil {
		return badRequest("missing \"value\" in \"record\"; want %s", produceShape)
	}
	value, err := decodeValue(*req.Record.Value, query.base64)
	if err != nil {
		return err
	}
	ar, err := appendRequestOf(r, value)
	if err != nil {
		return err
	}

	res, err := s.append(r.Context(), ar)
	if err != nil {
		return fromWriteError(err)
	}
	s.logger.Debug("produced", "offset", res.Offset, "bytes", len(value), "duplicate", res.Duplicate)
	s.writeJSON(w, http.StatusOK, produceResponse{Offset: res.Offset})
	return nil
}

// appendRequestOf returns the append a produce asks for. With an Idempotency-Key header
// the append is idempotent: its producer ID is "http:" and the key, its sequence number
// 1, so every request with that key appends the record once and answers its offset.
func appendRequestOf(r *http.Request, value []byte) (consensus.AppendRequest, error) {
	ar := consensus.AppendRequest{Values: [][]byte{value}}
	keys := r.Header.Values(idempotencyKeyHeader)
	switch {
	case len(keys) > 1:
		return ar, badRequest("%s is given more than once", idempotencyKeyHeader)
	case len(keys) == 1 && (keys[0] == "" || len(keys[0]) > maxIdempotencyKeyBytes):
		return ar, badRequest("%s must have 1 to %d bytes", idempotencyKeyHeader, maxIdempotencyKeyBytes)
	case len(keys) == 1:
		ar.ProducerID, ar.Sequence = "http:"+keys[0], 1
	}
	return ar, nil
}

// append appends ar on this server, and on the leader when this server is a follower
// and can forward. A forwarded append that has no producer ID gets a random one, so
// that if the forward is retried (the leader changed on the way) the record is still
// appended once.
func (s *httpServer) append(ctx context.Context, ar consensus.AppendRequest) (consensus.AppendResult, error) {
	res, err := s.log.Append(ctx, ar)
	notLeader, ok := errors.AsType[consensus.ErrNotLeader](err)
	if !ok || s.forward == nil || notLeader.LeaderID == "" {
		return res, err
	}
	if ar.ProducerID == "" {
		ar.ProducerID, ar.Sequence = "forward:"+rand.Text(), 1
	}
	s.logger.Debug("forwarding a write to the leader", "peer", notLeader.LeaderID, "addr", notLeader.LeaderAddr)
	return s.forward(ctx, notLeader.LeaderAddr, ar)
}

// consume answers with the record at the offset given in the body or the query.
func (s *httpServer) consume(w http.ResponseWriter, r *http.Request) error {
	query, err := parseQuery(r.URL.RawQuery, true)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	offset := query.offset
	var req consumeRequest
	switch err := decodeJSON(body, &req); {
	case errors.Is(err, io.EOF):
		// No body: the offset must be in the query.
	case err != nil:
		return badRequest("%s; want %s", describeJSONError(err), consumeShape)
	case req.Offset == nil:
		return badRequest("missing \"offset\"; want %s", consumeShape)
	case offset != nil:
		return badRequest("offset given both in the query and in the body; give it once")
	default:
		offset = req.Offset
	}
	if offset == nil {
		return badRequest("missing offset: send %s or use GET /?offset=N", consumeShape)
	}

	record, err := s.log.Read(r.Context(), *offset, query.consistency)
	if err != nil {
		return fromReadError(err)
	}
	resp, err := newJSONRecord(record, query.base64)
	if err != nil {
		return err
	}
	s.logger.Debug("consumed", "offset", record.Offset, "bytes", len(record.Value), "consistency", query.consistency)
	s.writeJSON(w, http.StatusOK, consumeResponse{Record: resp})
	return nil
}

// The health checks' paths.
const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
)

// healthz answers 200: the process is up and serves HTTP.
func (s *httpServer) healthz(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return &httpError{status: http.StatusMethodNotAllowed, message: "use GET"}
	}
	s.writeJSON(w, http.StatusOK, statusResponse{Status: "ok"})
	return nil
}

// readyz answers 200 when this server is a member of a cluster with a leader and has
// caught up after its start (it serves reads, and writes reach the leader), and 503
// saying what is missing otherwise.
func (s *httpServer) readyz(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return &httpError{status: http.StatusMethodNotAllowed, message: "use GET"}
	}
	st := s.log.Status()
	switch {
	case st.LeaderID == "":
		return &httpError{status: http.StatusServiceUnavailable, message: "not ready: no leader is known"}
	case !st.Ready:
		return &httpError{status: http.StatusServiceUnavailable,
			message: "not ready: catching up with the cluster after the start"}
	}
	s.writeJSON(w, http.StatusOK, statusResponse{Status: "ready", Leader: st.LeaderID})
	return nil
}

// newJSONRecord converts a record read from the log for the response. Without
// base64 the value must be valid UTF-8: encoding/json would otherwise replace each
// bad byte with U+FFFD and the client would get different bytes than were stored.
func newJSONRecord(r *storage.Record, base64Value bool) (jsonRecord, error) {
	if base64Value {
		return jsonRecord{Value: base64.StdEncoding.EncodeToString(r.Value), Offset: r.Offset}, nil
	}
	if !utf8.Valid(r.Value) {
		return jsonRecord{}, &httpError{status: http.StatusNotAcceptable, message: fmt.Sprintf(
			"the record at offset %d is binary, not UTF-8 text; read it with ?encoding=base64", r.Offset)}
	}
	return jsonRecord{Value: string(r.Value), Offset: r.Offset}, nil
}

// decodeValue turns a "value" from a request into the record's bytes.
func decodeValue(value string, base64Value bool) ([]byte, error) {
	if !base64Value {
		return []byte(value), nil
	}
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, badRequest("\"value\" is not valid base64 (?encoding=base64 asks for standard, padded base64): %v", err)
	}
	return b, nil
}

// queryParams holds the URL query parameters of a request.
type queryParams struct {
	base64      bool                  // ?encoding=base64
	offset      *uint64               // ?offset=N; nil when absent
	consistency consensus.Consistency // ?consistency=linearizable|local; linearizable when absent
}

// parseQuery parses and checks the query string. Only GET may carry an offset
// (allowOffset). Unknown or repeated parameters are errors, so that a typo such as
// ?encodng=base64 is reported instead of silently ignored.
func parseQuery(rawQuery string, allowOffset bool) (queryParams, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return queryParams{}, badRequest("malformed query string: %v", err)
	}
	var q queryParams
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if len(values[name]) > 1 {
			return queryParams{}, badRequest("query parameter %q is given more than once", name)
		}
		value := values[name][0]
		switch {
		case name == "encoding":
			if value != "base64" {
				return queryParams{}, badRequest(
					"unknown encoding %q: use ?encoding=base64, or leave it out for UTF-8 text", value)
			}
			q.base64 = true
		case name == "consistency" && allowOffset:
			switch value {
			case "linearizable":
				q.consistency = consensus.Linearizable
			case "local":
				q.consistency = consensus.Local
			default:
				return queryParams{}, badRequest("unknown consistency %q: use linearizable (the default) or local", value)
			}
		case name == "offset" && allowOffset:
			offset, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return queryParams{}, badRequest("bad offset %q in the query: want a non-negative integer", value)
			}
			q.offset = &offset
		default:
			return queryParams{}, badRequest("unknown query parameter %q", name)
		}
	}
	return q, nil
}

// readBody reads the whole request body, which must be at most s.maxBodyBytes long
// and valid UTF-8. encoding/json would quietly turn invalid bytes inside a string into
// U+FFFD, storing something other than what the client sent.
func (s *httpServer) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBodyBytes))
	if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, &httpError{status: http.StatusRequestEntityTooLarge,
			message: fmt.Sprintf("request body is larger than %d bytes", tooLarge.Limit)}
	}
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	if !utf8.Valid(body) {
		return nil, badRequest("request body is not valid UTF-8; to store binary data, " +
			"send its base64 as the value with ?encoding=base64")
	}
	return body, nil
}

// decodeJSON decodes body into v. The body must hold exactly one JSON value and no
// field that v lacks. An empty body gives io.EOF.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// describeJSONError says what is wrong with a request body that decodeJSON refused,
// in the API's terms rather than Go's.
func describeJSONError(err error) string {
	if syntaxErr, ok := errors.AsType[*json.SyntaxError](err); ok {
		return "malformed JSON: " + syntaxErr.Error()
	}
	if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if typeErr.Field == "" {
			return fmt.Sprintf("the body cannot be a JSON %s", typeErr.Value)
		}
		return fmt.Sprintf("%q cannot be a JSON %s", typeErr.Field, typeErr.Value)
	}
	switch {
	case errors.Is(err, io.EOF):
		return "empty request body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: the body ends in the middle of a value"
	}
	return err.Error() // For example: json: unknown field "recrod".
}

// fromLogError turns an error from the log into the error the client sees.
func fromLogError(err error) error {
	if outOfRange, ok := errors.AsType[storage.ErrOffsetOutOfRange](err); ok {
		e := &httpError{status: http.StatusNotFound, message: outOfRange.Error()}
		if outOfRange.Offset < outOfRange.Lowest {
			e.lowest = &outOfRange.Lowest
		}
		return e
	}
	if notLeader, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		// Only the leader appends. Say where it is; the client retries there.
		return &httpError{status: http.StatusServiceUnavailable, message: notLeader.Error(), applied: "no"}
	}
	if e, ok := errors.AsType[*consensus.AppendError](err); ok {
		if e.Applied == consensus.MaybeApplied {
			// Not a 503: retrying blindly may append the record twice.
			return &httpError{status: http.StatusInternalServerError, message: e.Error(), applied: "maybe"}
		}
		return &httpError{status: http.StatusServiceUnavailable, message: e.Error(), applied: "no"}
	}
	switch {
	case errors.Is(err, storage.ErrRecordTooLarge):
		return &httpError{status: http.StatusRequestEntityTooLarge, message: err.Error(), applied: "no"}
	case errors.Is(err, consensus.ErrClosed), errors.Is(err, storage.ErrClosed):
		return &httpError{status: http.StatusServiceUnavailable,
			message: "the log is closed; the server is probably stopping", applied: "no"}
	case errors.Is(err, consensus.ErrCatchingUp), errors.Is(err, consensus.ErrNoReadIndex):
		return &httpError{status: http.StatusServiceUnavailable, message: err.Error()}
	}
	return err
}

// fromWriteError is fromLogError for a write: every refusal says whether the write was
// applied; an error the server does not know is a 500 of a write that may have been.
func fromWriteError(err error) error {
	e, ok := errors.AsType[*httpError](fromLogError(err))
	if !ok {
		return &unknownWriteError{err}
	}
	return e
}

// fromReadError is fromLogError for a read: "applied" says nothing about a read.
func fromReadError(err error) error {
	if e, ok := errors.AsType[*httpError](fromLogError(err)); ok {
		e.applied = ""
		return e
	}
	return err
}

// unknownWriteError is an error the server does not know, from a write: the write may
// have been applied.
type unknownWriteError struct{ err error }

func (e *unknownWriteError) Error() string { return e.err.Error() }
func (e *unknownWriteError) Unwrap() error { return e.err }

// httpError is an error the client is told about: its status and message go out as is,
// with, for a write, whether it was applied ("no" or "maybe"), and for a read below
// the lowest offset, that offset. Any other error is a 500 whose details only the
// server's log sees.
type httpError struct {
	status  int
	message string
	applied string
	lowest  *uint64
}

func (e *httpError) Error() string { return e.message }

// badRequest returns a 400 error with a formatted message.
func badRequest(format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

// writeError writes err as {"error":"..."}.
func (s *httpServer) writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpErr, ok := errors.AsType[*httpError](err)
	if !ok {
		s.logger.Error("request failed", "method", r.Method, "url", r.URL.String(), "error", err)
		httpErr = &httpError{status: http.StatusInternalServerError, message: "internal error; the server's log has the details"}
		if _, write := errors.AsType[*unknownWriteError](err); write {
			httpErr.applied = "maybe"
		}
	} else {
		s.logger.Debug("request refused", "method", r.Method, "url", r.URL.String(),
			"status", httpErr.status, "error", httpErr.message)
	}
	if httpErr.status == http.StatusServiceUnavailable {
		// Every 503 here passes: the server stops, a leader is elected, a restarted
		// server catches up. Say when to try again.
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	s.writeJSON(w, httpErr.status, errorResponse{Error: httpErr.message, Applied: httpErr.applied, Lowest: httpErr.lowest})
}

// retryAfterSeconds is the Retry-After of a 503.
const retryAfterSeconds = "1"

// writeJSON writes v as the JSON response body, followed by a newline.
func (s *httpServer) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // show "<" as "<", not "\u003c"; the body is never HTML.
	if err := enc.Encode(v); err != nil {
		// The status line is already sent; all that is left is to note it.
		s.logger.Debug("writing response failed", "error", err)
	}
}
