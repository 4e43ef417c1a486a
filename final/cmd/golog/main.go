// Command golog runs the servers of a golog cluster and makes their certificates:
//
//	golog agent        run a server (golog agent --help lists its settings)
//	golog certs init   make a CA, the server certificate and client certificates
//	golog completion   a shell completion script
//
// A first server on this machine, on the default ports (HTTP 127.0.0.1:4001, gRPC and
// Raft 127.0.0.1:8400, gossip 127.0.0.1:8401):
//
//	$ golog certs init --dir .certs
//	$ golog agent --node-name a --data-dir .data/a
//	$ curl -X POST localhost:4001 -d '{"record": {"value": "AA"}}'
//	{"offset":0}
//	$ curl -X GET localhost:4001 -d '{"offset": 0}'
//	{"record":{"value":"AA","offset":0}}
//
// Every setting of golog agent is a flag, an environment variable (GOLOG_ and the
// flag's name: --http-addr is GOLOG_HTTP_ADDR) and a key of a YAML config file
// (--config); a flag wins over the environment, which wins over the file, which wins
// over the default.
//
// SIGINT or SIGTERM stops a server gracefully; a second signal stops it at once, by the
// signal's default action (a shell reports status 130 or 143).
//
// Exit status: 0 on success (for a server: a graceful stop), 1 when the command fails,
// 2 for a bad command line, flags or settings.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first SIGINT or SIGTERM cancels ctx, the commands' context, but only once
	// signals have their default action back: a second one then ends the process, even
	// if a graceful stop hangs. (In this order, a command that sees ctx done knows that
	// a second signal can no longer be missed.)
	signaled, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	context.AfterFunc(signaled, func() {
		stop()
		cancel(context.Cause(signaled))
	})

	root := newRootCommand(
	// The commands that talk to a running cluster (package internal/cli) go here.
	)
	code := execute(ctx, root, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	cancel(nil)
	os.Exit(code)
}
