// Package agent runs one server of a golog cluster: it puts the parts of the other
// packages together, starts them in the right order and stops them in the reverse
// order.
//
// # The parts
//
//	                 the RPC port, split by cmux on the first byte
//	           0x01 /                                   \ anything else (TLS: 0x16)
//	log.StreamLayer                                server.GRPCServer          HTTP JSON API
//	(TLS, server certificates only)                (mutual TLS, ACL)          (optional)
//	       |                                               |                       |
//	     Raft <-----> log.DistributedLog <-----------------+-----------------------+
//	                          ^
//	                          | Join, Leave (on the leader); reconcile
//	                        voters <---- discovery.Membership <---- gossip with the others
//
// The log is replicated with Raft: the leader appends, every server applies the same
// records at the same offsets and serves reads from its own copy. Produce on a
// follower fails with FAILED_PRECONDITION naming the leader (HTTP: 503).
//
// Raft and gRPC share one port. Each Raft connection starts with the byte
// log.RaftRPC, sent before TLS; a TLS connection starts with 0x16. A multiplexer
// (github.com/soheilhy/cmux) reads that first byte and hands the connection to Raft's
// StreamLayer or to the gRPC server. The other servers learn the port from the
// rpc_addr gossip tag, and it is also each server's address in the Raft configuration.
//
// Gossip says who is up; Raft's configuration says who votes. voters keeps the second
// following the first, without letting a fault cost a vote:
//
//	gossip event           the leader
//	joined, came back      adds the server as a voter at once
//	left gracefully        removes it at once
//	failed, or reaped      keeps it a voter; removes it only once it has been failed
//	                       for Config.RemoveFailedAfter (default 5 minutes) in the
//	                       leader's own gossip view, counted in this leadership, and
//	                       only if the servers left make a quorum of healthy voters
//
// A failure is not a leave: a partition, a pause and a restart all look like one from
// here, and most heal. Removing a failed voter at once would leave the cluster one
// voter short until the server was back and added again, and one more fault in that
// window would stop a cluster whose majority is up. Followers ignore these events. A server that becomes leader reconciles the two in
// full, because events that came while there was no leader were ignored by everyone,
// and a leader that left could not remove itself; its failure clocks start then, so
// what it believed before it led (cut off, say) is never acted on.
//
// # Starting and stopping
//
// New starts the parts in the order they are needed: the port and its multiplexer,
// the log and Raft, so that when the other servers hear of this one it answers their
// Raft requests; then the gossip membership; then the gRPC server (and HTTP). Exactly
// one server of a new cluster has Config.Bootstrap set; it elects itself, and adds the
// others as they join. A server restarting from its data directory rejoins the
// cluster it was in, whatever Bootstrap says.
//
// Shutdown goes the other way. A leader first removes itself from the configuration,
// so that the others elect a new leader without it; then the server leaves the gossip
// cluster (the leader removes it), stops serving, shuts Raft down and closes the log,
// and closes the port last. Every step runs even if one before it failed.
//
// # The console and lab mode
//
// The HTTP address also serves the cluster console (package console) under /ui/ and
// /api/ui/: a recorder keeps what this server sees (raft's observations, gossip's
// events), and the console gathers every server's state through the http_addr gossip
// tag. With Config.Lab (package lab), refused off loopback, it serves /api/lab/ too,
// and a lab.Link sits in this server's gossip transport, Raft dialer and RPC listener,
// so the lab can cut it off. Without Lab none of that is wired in.
//
// # Telemetry
//
// The gRPC and HTTP servers reach the log through a counting wrapper (package
// telemetry), whose counts, with the log's and gossip's state, the HTTP address
// serves at /metrics for Prometheus. With Config.Tracing's endpoint, the gRPC server
// and the connections to the other servers trace every call to an OpenTelemetry
// collector; Shutdown sends the last spans.
package agent
