// Package agent runs one server of a golog cluster: it puts the parts of the other
// packages together, starts them in the right order and stops them in the reverse
// order.
//
// # The parts
//
//	            gRPC (mutual TLS, ACL)     HTTP JSON (optional, no auth)
//	clients --> server.GRPCServer          server.NewHTTPServer
//	                    \                   /
//	                     stampedLog: Origin = this server's name
//	                               |
//	                            log.Log  <------ replication.Replicator <-- ConsumeStream
//	                                                      ^                  of every peer
//	                                           Join/Leave |
//	                                        discovery.Membership <-- gossip with the peers
//	                                             tag rpc_addr
//
// Each server is a member of the gossip cluster and tells the others, in its rpc_addr
// tag, where its gRPC server listens. When a member joins, the Membership tells the
// Replicator, which opens a ConsumeStream on that member and appends to the local log
// the records produced there. A record produced on a server is stamped with the
// server's name (Record.Origin) on its way into the log; the Replicator appends
// directly to the log, so copies keep their origin and are never copied on.
//
// # Starting and stopping
//
// New starts the parts in the order they are needed: the log, then the gRPC server (and
// HTTP), then the replicator, and last the membership, so that when the other servers
// hear of this one, it is ready to answer them. Shutdown goes the other way: leave the
// cluster first, so that the others stop replicating from here and see a graceful leave
// rather than a failure; then stop the replicator, then the servers, and close the log
// last, once nothing uses it. Every step runs even if one before it failed.
package agent
