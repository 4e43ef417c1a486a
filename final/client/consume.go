package client

import (
	"context"
	"iter"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	api "golog/api/v1"
)

// Consume returns the record at offset, read with the given consistency from a
// follower (from the leader when no follower is connected). A read is always safe to
// retry: the client retries UNAVAILABLE answers (a server catching up after a start, a
// follower that cannot reach the leader for a linearizable read, a broken connection)
// on another server. An offset the log does not hold is an *Error with Code
// OUT_OF_RANGE and Reason api.ReasonOffsetOutOfRange, which api.OutOfRangeOf reads.
func (c *Client) Consume(ctx context.Context, offset uint64, consistency Consistency) (Record, error) {
	var res *api.ConsumeResponse
	err := c.call(ctx, "consume", false, func(ctx context.Context, opts ...grpc.CallOption) error {
		var err error
		res, err = c.log.Consume(ctx, &api.ConsumeRequest{Offset: offset, Consistency: consistency.proto()}, opts...)
		return err
	})
	if err != nil {
		return Record{}, err
	}
	return recordOf(res.Record), nil
}

// followBatch is how many records Follow asks for in each message of its streams.
const followBatch = 256

// Follow returns the records from offset on, in order, and then every new record as it
// is written, until ctx ends or the loop stops:
//
//	for rec, err := range c.Follow(ctx, 0, client.Linearizable) {
//		if err != nil {
//			return err // the last value: the iteration is over
//		}
//		...
//	}
//
// It reads a stream (ConsumeStream) from a follower, in batches of records. When the stream fails, it opens
// another, on another server if one is connected, from the record after the last one it
// yielded: no record is skipped or yielded twice. It gives up after RetryPolicy's
// MaxAttempts failures in a row with no record between them, or when a failure is not
// one to retry (the offset is below what the log still holds, the ACL denies the
// client); it then yields an *Error once and stops. When ctx ends it yields an *Error
// whose Err is ctx's error (errors.Is works) and stops.
//
// consistency applies to each stream's first read; the records after it come as the
// server applies them.
func (c *Client) Follow(ctx context.Context, offset uint64, consistency Consistency) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		next := offset
		var r route
		failures := 0 // in a row, with no record between them
		for {
			err, more := c.followOnce(ctx, r, &next, consistency, yield, &failures)
			if !more {
				return
			}
			failures++
			if ctx.Err() != nil {
				yield(Record{}, newError("follow", "", failures, ctx.Err()))
				return
			}
			if c.isClosed() {
				yield(Record{}, ErrClosed)
				return
			}
			v := judge(err.err)
			if !v.retry || failures >= c.retry.MaxAttempts {
				yield(Record{}, newError("follow", "", failures, err.err))
				return
			}
			r = route{avoid: err.server}
			c.logger.Debug("client: following again", "offset", next, "after", err.server, "err", err.err)
			if sleep(ctx, c.retry.backoff(failures)) != nil {
				yield(Record{}, newError("follow", "", failures, ctx.Err()))
				return
			}
		}
	}
}

// streamError is how a stream of Follow ended: the error, and the server it came from
// ("" if unknown).
type streamError struct {
	err    error
	server string
}

// followOnce reads one stream from *next on, yielding its records and advancing *next.
// It resets *failures to 0 when a record arrives. It returns more false when the
// caller's loop stopped; otherwise the stream's error.
func (c *Client) followOnce(ctx context.Context, r route, next *uint64, consistency Consistency,
	yield func(Record, error) bool, failures *int) (streamError, bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream
	stream, err := c.log.ConsumeStream(withRoute(ctx, r),
		&api.ConsumeRequest{Offset: *next, Consistency: consistency.proto(), Batch: followBatch})
	if err != nil {
		return streamError{err: err}, true
	}
	for {
		res, err := stream.Recv()
		if err != nil {
			var server string
			if p, ok := peer.FromContext(stream.Context()); ok && p.Addr != nil {
				server = p.Addr.String()
			}
			return streamError{err: err, server: server}, true
		}
		*failures = 0
		recs := res.Records
		if res.Record != nil { // a server that sends one record a message
			recs = []*api.Record{res.Record}
		}
		for _, rec := range recs {
			*next = rec.GetOffset() + 1
			if !yield(recordOf(rec), nil) {
				return streamError{}, false
			}
		}
	}
}
