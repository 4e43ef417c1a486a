// Package cli holds the client commands of the golog binary, as cobra commands built on
// the golog/client package:
//
//	golog produce [VALUE...] [--batch N]   append records (the arguments, or the lines of
//	                                       the standard input); print their offsets
//	golog consume [--offset N] [--follow]  print the records from an offset on; --follow
//	        [--format text|json]           tails the log
//	        [--consistency linearizable|local]
//	golog servers [--format text|json]     the servers of the cluster and the leader
//	golog status [--format text|json]      the leader, the term, the commit and applied
//	                                       indexes, each server's lag and last contact
//	golog bench produce|consume|probe      the load tool and the machine probe (package
//	        |table                         bench): records/s, MB/s, latency, verified
//
// Each command comes from a constructor, NewProduceCommand(opts) and so on, for the
// golog root command to add. The commands share the client flags, bound to one
// ClientOptions:
//
//	--addr host:port   a server to find the cluster through (repeatable; default
//	                   localhost:8400)
//	--ca FILE          the CA certificate that signed the servers' certificates
//	--cert, --key FILE the client's certificate and key (mutual TLS)
//	--timeout D        how long the command may take (default 10s; for consume
//	                   --follow, how long connecting may take)
//
// Every command honours the context it is executed with (cobra's ExecuteContext): the
// root command's signal handling stops `consume --follow` cleanly.
//
// # Exit codes
//
// A command returns an error for the root command to print; ExitCode maps it to the
// process's exit code, which scripts can rely on:
//
//	0  done
//	1  usage: a bad flag or argument, a TLS or input file that cannot be read
//	2  not applied: a write failed and is not in the log; running it again is safe
//	3  maybe applied: a write failed and may be in the log (once); running it again
//	   may store it twice
//	4  unavailable: no server could be reached, or none answered in time
//	5  not found: the log has no record at the offset asked for
//	6  denied: a certificate was refused in the TLS handshake (by either side), or the
//	   ACL does not allow the command
//	7  another error of the servers (INTERNAL, DATA_LOSS, ...)
//
// When several apply, 3 comes first (a write that may be in the log is the thing to
// know), then 6, then 2: a produce refused by the ACL exits with 6, one that found no
// leader before its retries ran out with 2. A produce that could not connect at all
// exits with 4, and nothing was written.
package cli
