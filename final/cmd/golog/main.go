// Command golog runs the servers of a golog cluster and makes their certificates:
//
//	golog agent        run a server (golog agent --help lists its settings)
//	golog certs init   make a CA, the server certificate and client certificates
//	golog produce      append records; golog consume reads them (--follow tails)
//	golog servers      the servers and the leader; golog status, each one's progress
//	golog bench        measure a cluster (produce, consume) or this machine (probe)
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
// Exit status: one table for every command (see root.go): 0 done, 1 a bad command line,
// setting or file, 2 to 6 what a client command met (not applied, maybe applied,
// unavailable, not found, denied), 7 the command failed.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golog/internal/cli"
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

	clientOptions := defaultClientOptions(".certs")
	root := newRootCommand(
		cli.NewProduceCommand(&clientOptions),
		cli.NewConsumeCommand(&clientOptions),
		cli.NewServersCommand(&clientOptions),
		cli.NewStatusCommand(&clientOptions),
		cli.NewHealthCommand(&clientOptions),
		cli.NewBenchCommand(&clientOptions),
	)
	code := execute(ctx, root, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	cancel(nil)
	os.Exit(code)
}

// defaultClientOptions returns the client commands' defaults: the CA and the root
// client certificate in dir, if it holds them (as the .certs that golog certs init and
// ./run.sh make), so that the commands work as they are next to a development cluster.
func defaultClientOptions(dir string) cli.ClientOptions {
	var o cli.ClientOptions
	files := map[*string]string{&o.CAFile: "ca.pem", &o.CertFile: "root-client.pem", &o.KeyFile: "root-client-key.pem"}
	for field, name := range files {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return cli.ClientOptions{}
		}
		*field = filepath.Join(dir, name)
	}
	return o
}
