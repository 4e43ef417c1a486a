package server

import (
	"bytes"
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
	"golog/internal/log"
)

// DefaultMaxBodyBytes is the largest request body accepted when HTTPConfig.MaxBodyBytes
// is not set: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// CommitLog is what the HTTP server needs from a log; *log.Log is one.
//
// Both methods must be safe for concurrent use: the server calls them from one
// goroutine per request. Append stores the record's Value and returns the record's
// offset; the server does not use the record afterwards. The server only reads the
// record that Read returns.
//
// The server turns these errors into HTTP statuses: a log.ErrOffsetOutOfRange from Read
// into 404, log.ErrRecordTooLarge from Append into 413, log.ErrClosed, consensus.ErrNotLeader
// and consensus.ErrCatchingUp into 503. Any other error is a 500.
type CommitLog interface {
	Append(record *log.Record) (uint64, error)
	Read(offset uint64) (*log.Record, error)
}

var _ CommitLog = (*log.Log)(nil)

// HTTPConfig configures NewHTTPServer.
type HTTPConfig struct {
	// Log is where records are appended and read from. Required.
	Log CommitLog
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
	log          CommitLog
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
	}
)

// jsonRecord is a log.Record as the API shows it: Value is the record's bytes as
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

// ServeHTTP routes a request to produce or consume and writes the error either returns.
func (s *httpServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	switch {
	case r.URL.Path != "/":
		err = &httpError{http.StatusNotFound, fmt.Sprintf("no such path %q: the API is at /", r.URL.Path)}
	case r.Method == http.MethodPost:
		err = s.produce(w, r)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		err = s.consume(w, r)
	default:
		w.Header().Set("Allow", allowedMethods)
		err = &httpError{http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed: POST appends a record, GET reads one", r.Method)}
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

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

	offset, err := s.log.Append(&log.Record{Value: value})
	if err != nil {
		return fromLogError(err)
	}
	s.logger.Debug("produced", "offset", offset, "bytes", len(value))
	s.writeJSON(w, http.StatusOK, produceResponse{Offset: offset})
	return nil
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

	record, err := s.log.Read(*offset)
	if err != nil {
		return fromLogError(err)
	}
	resp, err := newJSONRecord(record, query.base64)
	if err != nil {
		return err
	}
	s.logger.Debug("consumed", "offset", record.Offset, "bytes", len(record.Value))
	s.writeJSON(w, http.StatusOK, consumeResponse{Record: resp})
	return nil
}

// newJSONRecord converts a record read from the log for the response. Without
// base64 the value must be valid UTF-8: encoding/json would otherwise replace each
// bad byte with U+FFFD and the client would get different bytes than were stored.
func newJSONRecord(r *log.Record, base64Value bool) (jsonRecord, error) {
	if base64Value {
		return jsonRecord{Value: base64.StdEncoding.EncodeToString(r.Value), Offset: r.Offset}, nil
	}
	if !utf8.Valid(r.Value) {
		return jsonRecord{}, &httpError{http.StatusNotAcceptable, fmt.Sprintf(
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
	base64 bool    // ?encoding=base64
	offset *uint64 // ?offset=N; nil when absent
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
		return nil, &httpError{http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body is larger than %d bytes", tooLarge.Limit)}
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
	if outOfRange, ok := errors.AsType[log.ErrOffsetOutOfRange](err); ok {
		return &httpError{http.StatusNotFound, outOfRange.Error()}
	}
	if notLeader, ok := errors.AsType[consensus.ErrNotLeader](err); ok {
		// Only the leader appends. Say where it is; the client retries there.
		return &httpError{http.StatusServiceUnavailable, notLeader.Error()}
	}
	switch {
	case errors.Is(err, log.ErrRecordTooLarge):
		return &httpError{http.StatusRequestEntityTooLarge, err.Error()}
	case errors.Is(err, log.ErrClosed):
		return &httpError{http.StatusServiceUnavailable, "the log is closed; the server is probably stopping"}
	case errors.Is(err, consensus.ErrCatchingUp):
		return &httpError{http.StatusServiceUnavailable, err.Error()}
	}
	return err
}

// httpError is an error the client is told about: its status and message go out as is.
// Any other error is a 500 whose details only the server's log sees.
type httpError struct {
	status  int
	message string
}

func (e *httpError) Error() string { return e.message }

// badRequest returns a 400 error with a formatted message.
func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// writeError writes err as {"error":"..."}.
func (s *httpServer) writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpErr, ok := errors.AsType[*httpError](err)
	if !ok {
		s.logger.Error("request failed", "method", r.Method, "url", r.URL.String(), "error", err)
		httpErr = &httpError{http.StatusInternalServerError, "internal error; the server's log has the details"}
	} else {
		s.logger.Debug("request refused", "method", r.Method, "url", r.URL.String(),
			"status", httpErr.status, "error", httpErr.message)
	}
	if httpErr.status == http.StatusServiceUnavailable {
		// Every 503 here passes: the server stops, a leader is elected, a restarted
		// server catches up. Say when to try again.
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	s.writeJSON(w, httpErr.status, errorResponse{Error: httpErr.message})
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
