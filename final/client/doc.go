// Package client is the Go client of a golog cluster. It finds the servers and their
// leader by itself, sends every write to the leader and spreads reads over the
// followers, and retries what can be retried without ever storing a record twice.
//
//	c, err := client.New(ctx, client.Config{Addrs: []string{"10.0.0.1:8400"}, TLS: tlsConfig})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	off, err := c.Produce(ctx, []byte("hello"))          // the record's offset
//	rec, err := c.Consume(ctx, off, client.Linearizable) // from a follower
//	for rec, err := range c.Follow(ctx, 0, client.Linearizable) { ... } // tail the log
//
// # Finding the servers: the resolver
//
// A Client has one gRPC connection (grpc.NewClient) over which it reaches every
// server. Which servers there are, and which one leads, it learns from the servers
// themselves: its resolver calls GetServers on one of them and hands gRPC the list,
// each address tagged with the server's ID and whether it leads (in the address's
// Attributes, under a key no other package can use):
//
//	            GetServers                    resolver.State
//	resolver ──────────────▶ a server   ───▶  10.0.0.1:8400 {a, leader}
//	    ▲     (its own TLS connections)        10.0.0.2:8400 {b}
//	    │                                      10.0.0.3:8400 {c}
//	    └── every RefreshInterval, when gRPC asks (a connection broke),
//	        and when a server answered a write with NOT_LEADER
//
// It asks the leader it knows first, then the other servers it knows, then the seed
// addresses of Config.Addrs, and takes the first answer that names a leader; so the
// seeds may go away once the client has found the others, and servers added later are
// found at the next poll. It polls periodically because a change of leader breaks no
// connection: gRPC would never ask. Its goroutine does the polling; gRPC's ResolveNow
// only wakes it. The resolver is registered on the Client's connection alone
// (grpc.WithResolvers), with a new resolver for every Build, so Clients with different
// seeds or certificates never share one.
//
// New waits for the first poll: it fails at once, with an *Error of Op "connect", when
// no seed answers, when the servers refuse the client's certificate (Reason
// ReasonTLSHandshake: the message says why, "tls: certificate required", "tls: expired
// certificate", ...) or when their ACL denies it (PERMISSION_DENIED).
//
// # Choosing a server: the balancer and its picker
//
// The Client's load-balancing policy keeps one connection to every server the resolver
// lists, and builds a new picker whenever a connection's state or the leader changes.
// The picker sends
//
//   - Produce, ProduceBatch and ProduceStream to the leader (waiting while its
//     connection is made; to any server when no leader is known or the leader is
//     unreachable: its NOT_LEADER or NO_LEADER answer tells the client what to do);
//   - Consume and ConsumeStream to the followers, one after the other, and to the
//     leader when no follower is connected;
//   - every other call (GetServers, GetStatus, health checks) to every server in turn.
//
// A leader change only rebuilds the picker: the connections stay. (gRPC's ready-made
// balancers key their connections by the address's Attributes, so a leader flag there
// would close and reopen two connections on every change.)
//
// # Retries and what an error means
//
// A Client has a random producer ID and numbers its writes 1, 2, 3, ... (a Producer has
// an ID of its own). A write keeps its number through all its attempts, and the servers
// remember, per producer, the numbers they have applied: an attempt that repeats one
// appends nothing and answers with the first attempt's offset. That is what makes it
// safe to retry a write whose fate is unknown. The servers remember the 64 newest
// numbers of each producer, so a Client has at most MaxWindow (64) writes in flight;
// more wait for their turn.
//
// Each call is retried within the caller's context and RetryPolicy (at most MaxAttempts
// attempts, 10 by default, with a backoff from 25ms doubling up to 1s); the last
// attempt's error is returned in an *Error. Applied says what a failed write did:
//
//	what the server answered                          applied  retried
//	FAILED_PRECONDITION NOT_LEADER                     no       yes, at once at the leader it names
//	UNAVAILABLE NO_LEADER, SHUTTING_DOWN,              no       yes, after a backoff
//	  QUEUE_FULL, LEADERSHIP_TRANSFER
//	DEADLINE_EXCEEDED DEADLINE_BEFORE_PROPOSE          no       while the caller's context lasts
//	UNKNOWN LEADERSHIP_LOST, SHUTDOWN_AFTER_PROPOSE    maybe    yes, with the same sequence number
//	DEADLINE_EXCEEDED STOPPED_WAITING                  maybe    while the caller's context lasts
//	INVALID_ARGUMENT RECORD_TOO_LARGE, INVALID_REQUEST no       no
//	FAILED_PRECONDITION SEQUENCE_TOO_OLD               no       no
//	FAILED_PRECONDITION SEQUENCE_GAP (a Producer)      no       yes: a record sent before it failed, and
//	                                                            is sent again first
//	UNAVAILABLE without a reason (a broken connection) maybe    yes, with the same sequence number
//	UNAVAILABLE, a failed TLS handshake                no       no (Reason ReasonTLSHandshake)
//	UNAUTHENTICATED, PERMISSION_DENIED                 no       no
//	RESOURCE_EXHAUSTED (a message over gRPC's limit)   no       no
//	INTERNAL, DATA_LOSS, anything else                 maybe    no
//	the caller's context ended                         maybe    no (no if the call never left the client)
//
// A write's Applied is "maybe" if any of its attempts may have been applied, even if
// the last one certainly was not. Reads (Consume, Follow, Servers, Status) are always
// safe to retry: UNAVAILABLE (a broken connection, CATCHING_UP on a server that has
// just started, READ_INDEX_UNAVAILABLE on a follower that cannot reach the leader) and
// the server's own cancellations are retried on another server; OUT_OF_RANGE and the
// denials are not. Their Applied is "".
//
// # The guarantee
//
// A write that succeeded is in the log once, at the offset returned, whatever the
// retries did on the way. A write that failed with Applied "no" is not in the log and
// will not be. A write that failed with Applied "maybe" may be in the log, once; writing
// it again with another call may store it twice. A record the log holds is there for
// good: any server serves it to a linearizable read.
//
// # Streams
//
// Follow reads a ConsumeStream from a follower and, when it fails, opens another on
// another server from the record after the last one it yielded: no record is skipped
// or repeated. A Producer pipelines writes over a ProduceBatchStream: it sends a window
// of records, in batches of what waits, without waiting for their acknowledgements,
// and when its stream fails, sends again, in order and with their sequence numbers,
// every batch not yet acknowledged, to the new leader. It closes its stream when it has had nothing to do for a moment,
// so that an idle Producer never holds up a server that is stopping.
//
// A Client and its Producers are safe for concurrent use.
package client
