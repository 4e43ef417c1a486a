// Command server runs one server of a golog cluster (package agent): a commit log kept
// in a directory and replicated with Raft, served over the Log gRPC service (on
// 127.0.0.1:8400 by default, the port Raft also uses) and the HTTP JSON API (on
// 127.0.0.1:4001), that gossips with the other servers (on 127.0.0.1:8401):
//
//	$ make gencert    # at the repository root: certificates in .certs
//	$ server -node-name a -data-dir /tmp/a -cert-dir ../.certs
//	$ server -node-name b -data-dir /tmp/b -cert-dir ../.certs -http-addr 127.0.0.1:4002 \
//	      -rpc-addr 127.0.0.1:8410 -bind-addr 127.0.0.1:8411 -start-join 127.0.0.1:8401
//	$ curl -X POST localhost:4001 -d '{"record": {"value": "AA"}}'
//	{"offset":0}
//	$ curl -X GET localhost:4002 -d '{"offset": 0}'
//	{"record":{"value":"AA","offset":0}}
//
// A server started without -start-join starts a new cluster and becomes its leader
// (unless its data directory holds Raft state: then it rejoins the cluster it was in).
// The others join it; the leader adds them to the cluster. Only the leader accepts
// records (a follower answers 503 over HTTP, FAILED_PRECONDITION over gRPC); every
// server serves reads.
//
// The gRPC service is served over mutual TLS only: clients present a certificate signed
// by the CA in the certificate directory, and the ACL (a casbin model and policy) says
// what each certificate's Common Name may do. Raft, on the same port, is TLS too, and
// only servers may speak it: each server presents its server certificate, to the
// others and when it dials them. The HTTP API has no authentication, so it listens on
// a loopback address only: it is for trying the log on your own machine.
//
// Every flag has an environment variable that sets its default; a flag given on the
// command line wins. Run server -h for the list.
//
// SIGINT or SIGTERM stops the server gracefully: a leader first takes itself out of
// the cluster so that the others elect a new one; then the server leaves the cluster,
// ends the ConsumeStreams, lets the requests in flight finish, stops Raft and closes
// the log. A second signal kills it at once.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/serf/serf"

	"golog/internal/agent"
	tlsconfig "golog/internal/config"
	"golog/internal/consensus"
	"golog/internal/server"
)

// config is what run needs. parseConfig fills it from flags and the environment.
type config struct {
	NodeName       string   // this server's name in the cluster; the host name by default
	BindAddr       string   // ip:port to gossip with the other servers on
	StartJoinAddrs []string // BindAddrs of servers already in the cluster; none starts a new one
	HTTPAddr       string   // host:port to serve HTTP on, unless Listener is set
	RPCAddr        string   // host:port to serve gRPC and Raft on, unless RPCListener is set
	DataDir        string   // directory of the log's files; created if missing
	CertDir        string   // ca.pem, server.pem and server-key.pem, as make gencert writes them
	ACLModel       string   // casbin model file
	ACLPolicy      string   // casbin policy file
	MaxBodyBytes   int64    // largest request body accepted
	Debug          bool     // log at Debug level

	// Listener and RPCListener, if set, are served instead of listening on HTTPAddr
	// and RPCAddr (tests use them to serve on ports picked at run time). run closes
	// them.
	Listener    net.Listener
	RPCListener net.Listener
	// Logger, if set, is used instead of a text logger on stderr.
	Logger *slog.Logger
	// Tune and RaftTune, if set, adjust Serf's and Raft's configurations (tests
	// shorten their timers).
	Tune     func(*serf.Config)
	RaftTune func(*consensus.RaftConfig)
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, give signals back their default action, so that a second
	// one kills a server whose shutdown hangs.
	context.AfterFunc(ctx, stop)

	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// parseConfig reads the flags in args, taking their defaults from the environment
// through getenv. Usage and flag errors are printed to output.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	hostname, _ := os.Hostname() // checked below: an empty name is refused
	cfg := config{
		NodeName:     hostname,
		BindAddr:     "127.0.0.1:8401",
		HTTPAddr:     "127.0.0.1:4001",
		RPCAddr:      "127.0.0.1:8400",
		DataDir:      ".data",
		ACLModel:     "acl/model.conf",
		ACLPolicy:    "acl/policy.csv",
		MaxBodyBytes: server.DefaultMaxBodyBytes,
	}
	var startJoin string // comma-separated; split into cfg.StartJoinAddrs after parsing
	// The environment first, so that flags override it.
	if v := getenv("GOLOG_NODE_NAME"); v != "" {
		cfg.NodeName = v
	}
	if v := getenv("GOLOG_BIND_ADDR"); v != "" {
		cfg.BindAddr = v
	}
	if v := getenv("GOLOG_START_JOIN"); v != "" {
		startJoin = v
	}
	if v := getenv("GOLOG_HTTP_ADDR"); v != "" {
		cfg.HTTPAddr = v
	}
	if v := getenv("GOLOG_RPC_ADDR"); v != "" {
		cfg.RPCAddr = v
	}
	if v := getenv("GOLOG_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	if v := getenv("GOLOG_CERT_DIR"); v != "" {
		cfg.CertDir = v
	}
	if v := getenv("GOLOG_ACL_MODEL"); v != "" {
		cfg.ACLModel = v
	}
	if v := getenv("GOLOG_ACL_POLICY"); v != "" {
		cfg.ACLPolicy = v
	}
	if v := getenv("GOLOG_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return config{}, fmt.Errorf("GOLOG_MAX_BODY_BYTES=%q: want a number of bytes", v)
		}
		cfg.MaxBodyBytes = n
	}
	if v := getenv("GOLOG_DEBUG"); v != "" {
		debug, err := strconv.ParseBool(v)
		if err != nil {
			return config{}, fmt.Errorf("GOLOG_DEBUG=%q: want true or false", v)
		}
		cfg.Debug = debug
	}

	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.NodeName, "node-name", cfg.NodeName,
		"this server's `name` in the cluster, unique and the same across restarts (env GOLOG_NODE_NAME)")
	fs.StringVar(&cfg.BindAddr, "bind-addr", cfg.BindAddr,
		"`ip:port` to gossip with the other servers on, UDP and TCP (env GOLOG_BIND_ADDR)")
	fs.StringVar(&startJoin, "start-join", startJoin,
		"comma-separated bind `addresses` of servers already in the cluster; none starts a new cluster, "+
			"unless the data directory holds one already (env GOLOG_START_JOIN)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr,
		"`host:port` to serve HTTP on; a loopback address only (env GOLOG_HTTP_ADDR)")
	fs.StringVar(&cfg.RPCAddr, "rpc-addr", cfg.RPCAddr,
		"`host:port` to serve gRPC and Raft on, which the other servers dial; :8400 for every interface, "+
			"then they dial the host of -bind-addr (env GOLOG_RPC_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir,
		"`directory` holding the log; created if missing (env GOLOG_DATA_DIR)")
	fs.StringVar(&cfg.CertDir, "cert-dir", cfg.CertDir,
		"`directory` with ca.pem, server.pem and server-key.pem, as make gencert writes them (env GOLOG_CERT_DIR)")
	fs.StringVar(&cfg.ACLModel, "acl-model", cfg.ACLModel, "casbin model `file` (env GOLOG_ACL_MODEL)")
	fs.StringVar(&cfg.ACLPolicy, "acl-policy", cfg.ACLPolicy, "casbin policy `file` (env GOLOG_ACL_POLICY)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes,
		"largest request body accepted, in bytes (env GOLOG_MAX_BODY_BYTES)")
	fs.BoolVar(&cfg.Debug, "debug", cfg.Debug, "log at Debug level (env GOLOG_DEBUG)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q; see -h", fs.Arg(0))
	}
	cfg.StartJoinAddrs = splitList(startJoin)
	if cfg.NodeName == "" {
		return config{}, errors.New("-node-name is required: the host name is unknown")
	}
	if cfg.MaxBodyBytes <= 0 {
		return config{}, fmt.Errorf("-max-body-bytes must be positive, not %d", cfg.MaxBodyBytes)
	}
	if cfg.CertDir == "" {
		return config{}, errors.New("-cert-dir is required: run make gencert at the repository root and pass -cert-dir .certs")
	}
	if err := requireLoopback(cfg.HTTPAddr); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// splitList splits a comma-separated list, dropping spaces and empty items; nil for
// none.
func splitList(list string) []string {
	var items []string
	for item := range strings.SplitSeq(list, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// requireLoopback returns an error unless addr's host is a loopback address. The
// HTTP API has no authentication: anyone who can reach it may produce and consume,
// so it is only served where nobody but this machine's users can reach it.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-http-addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-http-addr %q: the HTTP API has no authentication and listens on a loopback address only, such as 127.0.0.1:4001; use the gRPC API over mutual TLS from other machines", addr)
}

// loadTLS returns the two TLS configurations of a server, from the files in
// cfg.CertDir. Both present the server certificate: serverTLS to clients and to the
// other servers that dial this one (it demands their certificates, from the CA), and
// peerTLS to the servers this one dials for Raft, which accept server identities only.
func loadTLS(cfg config) (serverTLS, peerTLS *tls.Config, err error) {
	serverTLS, err = tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
		CertFile: filepath.Join(cfg.CertDir, "server.pem"),
		KeyFile:  filepath.Join(cfg.CertDir, "server-key.pem"),
		CAFile:   filepath.Join(cfg.CertDir, "ca.pem"),
		Server:   true,
	})
	if err != nil {
		return nil, nil, err
	}
	// No ServerAddress: each peer's certificate is checked against the host of the
	// address this server dials, the peer's advertised RPC address.
	peerTLS, err = tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
		CertFile: filepath.Join(cfg.CertDir, "server.pem"),
		KeyFile:  filepath.Join(cfg.CertDir, "server-key.pem"),
		CAFile:   filepath.Join(cfg.CertDir, "ca.pem"),
	})
	if err != nil {
		return nil, nil, err
	}
	return serverTLS, peerTLS, nil
}

// run starts a server (an agent) with cfg and runs it until ctx is done, then shuts it
// down gracefully. It returns nil after a clean shutdown, and an error if the server
// cannot start (certificates, ACL, ports, log, joining the cluster), serving fails, or
// the shutdown fails. If it cannot start, nothing is left running.
func run(ctx context.Context, cfg config) error {
	logger := cfg.Logger
	if logger == nil {
		level := slog.LevelInfo
		if cfg.Debug {
			level = slog.LevelDebug
		}
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}

	serverTLS, peerTLS, err := loadTLS(cfg)
	if err != nil {
		closeAll(cfg.Listener, cfg.RPCListener)
		return err
	}
	a, err := agent.New(agent.Config{
		NodeName:        cfg.NodeName,
		DataDir:         cfg.DataDir,
		BindAddr:        cfg.BindAddr,
		StartJoinAddrs:  cfg.StartJoinAddrs,
		Bootstrap:       len(cfg.StartJoinAddrs) == 0,
		RPCAddr:         cfg.RPCAddr,
		RPCListener:     cfg.RPCListener,
		HTTPAddr:        cfg.HTTPAddr,
		HTTPListener:    cfg.Listener,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		ServerTLSConfig: serverTLS,
		PeerTLSConfig:   peerTLS,
		ACLModelFile:    cfg.ACLModel,
		ACLPolicyFile:   cfg.ACLPolicy,
		Logger:          logger,
		Tune:            cfg.Tune,
		RaftTune:        cfg.RaftTune,
	})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-a.Stopped(): // serving failed; Shutdown says why
	}
	return a.Shutdown()
}

// closeAll closes the listeners that are not nil.
func closeAll(listeners ...net.Listener) {
	for _, l := range listeners {
		if l != nil {
			_ = l.Close()
		}
	}
}
