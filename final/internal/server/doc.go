// Package server serves a commit log over the network in two ways: the Log gRPC
// service of api/v1/log.proto (GRPCServer, for programs) and a small JSON API over
// HTTP (NewHTTPServer), so that the log can be tried with nothing but curl:
//
//	$ curl -X POST localhost:4001 -d '{"record": {"value": "AA"}}'
//	{"offset":0}
//	$ curl -X GET localhost:4001 -d '{"offset": 0}'
//	{"record":{"value":"AA","offset":0}}
//
// There is one resource, "/", and two things to do with it:
//
//	POST /            {"record":{"value":"..."}}   appends a record   -> {"offset":N}
//	GET  /            {"offset":N}                 reads a record     -> {"record":{"value":"...","offset":N}}
//	GET  /?offset=N   (no body)                    the same read, easier to type
//
// A GET with a body is unusual but legal HTTP, and it is what the curl line above sends.
// The server never looks at Content-Type: curl -d labels the body as a form
// (application/x-www-form-urlencoded) although it is JSON.
//
// # Values: text or base64
//
// A record is bytes; JSON strings are Unicode text. By default "value" is the record's
// bytes read as UTF-8, so "AA" is stored as the two bytes 0x41 0x41 and comes back as
// "AA". Bytes that are not valid UTF-8 cannot be written that way, so a client that
// stores binary data adds ?encoding=base64 to both requests and "value" is then the
// standard, padded base64 (RFC 4648 §4) of the bytes. A record that is not valid UTF-8
// read without ?encoding=base64 is refused (406) rather than mangled.
//
// # Errors
//
// Every response is JSON. A failed request gets {"error":"..."} with a message meant
// for a person, and one of these statuses:
//
//	400 Bad Request               malformed JSON, trailing data, an unknown field, a missing
//	                              record, value or offset, bad base64, a bad query parameter,
//	                              a body that is not UTF-8
//	404 Not Found                 the offset is not in the log (the message says which are),
//	                              or a path other than /
//	405 Method Not Allowed        a method other than GET, HEAD or POST (see the Allow header)
//	406 Not Acceptable            the record is not UTF-8 text; ask with ?encoding=base64
//	413 Request Entity Too Large  the body is over the limit, or the log refuses a record
//	                              that big
//	500 Internal Server Error     anything else; the details go to the server's log only
//	503 Service Unavailable       try again shortly (the response has Retry-After): the log
//	                              is closed because the server is stopping, a write reached a
//	                              server that is not the leader (the message names it), or
//	                              the server is still catching up with its cluster after a
//	                              start and serves no reads yet
//
// A rejected request appends nothing: the body is read and checked in full before
// the log is touched.
//
// # Reading the body
//
// The body is read whole, but never more than the configured limit, so a client cannot
// make the server buffer an unbounded body. Decoding is strict: unknown fields and data
// after the JSON value are errors, because a typo such as {"recrod":...} that was silently
// ignored would turn into a confusing "missing record" or, worse, a wrong answer.
//
// # The gRPC service
//
//	Produce             one record in, its offset out
//	ProduceBatch        records in, appended all or none, the first one's offset out
//	Consume             an offset in, its record out
//	ProduceStream       a stream of records in, their offsets out, in the same order
//	ProduceBatchStream  a stream of batches in, their first offsets out, in order
//	ConsumeStream       an offset in, that record and every later one out (one or a
//	                    batch a message), for as long as the client listens
//	GetServers          the servers of the cluster, and which one leads
//
// The service is served over mutual TLS only, and every RPC is checked before its
// handler runs (authorize.go): the caller is the Common Name of the client certificate
// the TLS handshake verified, and the ACL says whether that subject may do the RPC's
// action, produce or consume. A client without a valid certificate never gets past the
// handshake; a known client without the right gets PERMISSION_DENIED. The HTTP API has
// no such checks: serve it only where only trusted users can reach it (golog agent
// keeps it on loopback).
//
// Errors are gRPC statuses a client can act on: OUT_OF_RANGE for an offset the log
// does not hold (with an ErrorInfo giving the log's range, see api/v1), INVALID_ARGUMENT
// for a request without a record or a record too large, DATA_LOSS for a damaged record,
// UNAVAILABLE when the log is closed, the server is stopping or it is still catching up
// with its cluster after a start (all worth a retry), FAILED_PRECONDITION
// (with an ErrorInfo naming the leader) for a write sent to a server that is not the
// leader of its cluster.
//
// ConsumeStream never polls. At the end of the log it waits on the log's Appended
// channel, which the next Append closes, so a thousand idle consumers cost no CPU.
package server
