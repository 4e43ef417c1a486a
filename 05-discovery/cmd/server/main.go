// Command server serves a commit log kept in a directory over two APIs of package
// server: the Log gRPC service (on 127.0.0.1:8400 by default) and the HTTP JSON API
// (on 127.0.0.1:4001):
//
//	$ make gencert    # at the repository root: certificates in .certs
//	$ server -data-dir /var/lib/golog -cert-dir ../.certs
//	$ curl -X POST localhost:4001 -d '{"record": {"value": "AA"}}'
//	{"offset":0}
//
// The gRPC service is served over mutual TLS only: clients present a certificate signed
// by the CA in the certificate directory, and the ACL (a casbin model and policy) says
// what each certificate's Common Name may do. The HTTP API has no authentication, so it
// listens on a loopback address only: it is for trying the log on your own machine.
//
// Every flag has an environment variable that sets its default; a flag given on the
// command line wins. Run server -h for the list.
//
// SIGINT or SIGTERM stops the server gracefully: it stops accepting connections, ends
// the ConsumeStreams, lets the requests in flight finish, then closes the log. A second signal kills it at once.
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
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golog/internal/auth"
	tlsconfig "golog/internal/config"
	"golog/internal/log"
	"golog/internal/server"
)

// Timeouts of the HTTP server. ReadHeaderTimeout stops clients that open connections
// and send nothing (slowloris); the body is bounded by MaxBodyBytes and readTimeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
)

// config is what run needs. parseConfig fills it from flags and the environment.
type config struct {
	HTTPAddr     string // host:port to serve HTTP on, unless Listener is set
	RPCAddr      string // host:port to serve gRPC on, unless RPCListener is set
	DataDir      string // directory of the log's files; created if missing
	CertDir      string // ca.pem, server.pem and server-key.pem, as make gencert writes them
	ACLModel     string // casbin model file
	ACLPolicy    string // casbin policy file
	MaxBodyBytes int64  // largest request body accepted
	Debug        bool   // log at Debug level

	// Listener and RPCListener, if set, are served instead of listening on HTTPAddr
	// and RPCAddr (tests use them to serve on ports picked at run time). run closes
	// them.
	Listener    net.Listener
	RPCListener net.Listener
	// Logger, if set, is used instead of a text logger on stderr.
	Logger *slog.Logger
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
	cfg := config{
		HTTPAddr:     "127.0.0.1:4001",
		RPCAddr:      "127.0.0.1:8400",
		DataDir:      ".data",
		ACLModel:     "acl/model.conf",
		ACLPolicy:    "acl/policy.csv",
		MaxBodyBytes: server.DefaultMaxBodyBytes,
	}
	// The environment first, so that flags override it.
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
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr,
		"`host:port` to serve HTTP on; a loopback address only (env GOLOG_HTTP_ADDR)")
	fs.StringVar(&cfg.RPCAddr, "rpc-addr", cfg.RPCAddr,
		"`host:port` to serve gRPC on; :8400 for every interface (env GOLOG_RPC_ADDR)")
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

// secureGRPC returns the parts of the gRPC server's configuration that secure it: the
// server's TLS configuration, demanding client certificates from the CA in
// cfg.CertDir, and the ACL.
func secureGRPC(cfg config) (*tls.Config, *auth.Authorizer, error) {
	serverTLS, err := tlsconfig.SetupTLSConfig(tlsconfig.TLSConfig{
		CertFile: filepath.Join(cfg.CertDir, "server.pem"),
		KeyFile:  filepath.Join(cfg.CertDir, "server-key.pem"),
		CAFile:   filepath.Join(cfg.CertDir, "ca.pem"),
		Server:   true,
	})
	if err != nil {
		return nil, nil, err
	}
	acl, err := auth.New(cfg.ACLModel, cfg.ACLPolicy)
	if err != nil {
		return nil, nil, err
	}
	return serverTLS, acl, nil
}

// run opens the log in cfg.DataDir and serves it over gRPC and HTTP until ctx is done,
// then shuts both down gracefully and closes the log. It returns nil after a clean shutdown, and
// an error if the listener or the log cannot be opened, or serving fails.
func run(ctx context.Context, cfg config) error {
	logger := cfg.Logger
	if logger == nil {
		level := slog.LevelInfo
		if cfg.Debug {
			level = slog.LevelDebug
		}
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}

	serverTLS, acl, err := secureGRPC(cfg)
	if err != nil {
		return err
	}
	// Listen before opening the log, so that a port in use is reported at once.
	ln, err := listen(cfg.Listener, cfg.HTTPAddr)
	if err != nil {
		return err
	}
	rpcLn, err := listen(cfg.RPCListener, cfg.RPCAddr)
	if err != nil {
		ln.Close()
		return err
	}
	commitLog, err := log.NewLog(cfg.DataDir, log.Config{Logger: logger})
	if err != nil {
		ln.Close()
		rpcLn.Close()
		return err
	}

	// Both servers run until ctx is done; if one of them fails, the other is stopped
	// too, so that the log is closed only once neither uses it.
	ctx, stopBoth := context.WithCancel(ctx)
	defer stopBoth()
	logger.Info("serving gRPC on " + rpcLn.Addr().String())
	grpcDone := make(chan error, 1)
	go func() {
		grpcDone <- serveGRPC(ctx, rpcLn, server.GRPCConfig{
			Log: commitLog, TLS: serverTLS, Authorizer: acl, Logger: logger,
		})
		stopBoth()
	}()
	logger.Info("serving HTTP on "+ln.Addr().String(), "data_dir", cfg.DataDir)
	err = serve(ctx, ln, server.HTTPConfig{Log: commitLog, MaxBodyBytes: cfg.MaxBodyBytes, Logger: logger})
	stopBoth()
	err = errors.Join(err, <-grpcDone)

	if closeErr := commitLog.Close(); closeErr != nil {
		err = errors.Join(err, fmt.Errorf("close log: %w", closeErr))
	}
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// listen returns ln if it is set, and otherwise listens on addr.
func listen(ln net.Listener, addr string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// serveGRPC serves the Log gRPC service on ln until ctx is done, then shuts it down:
// ConsumeStreams end at once, other RPCs get shutdownTimeout to finish. It closes ln.
func serveGRPC(ctx context.Context, ln net.Listener, cfg server.GRPCConfig) error {
	srv, err := server.NewGRPCServer(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Serve returns before Shutdown only on a failure such as a closed listener.
		return fmt.Errorf("serve gRPC: %w", err)
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = errors.Join(srv.Shutdown(shutdownCtx), <-served)
	if err != nil {
		return fmt.Errorf("shut down gRPC server: %w", err)
	}
	return nil
}

// serve serves the HTTP API on ln until ctx is done, then stops accepting connections
// and waits for the requests in flight, for shutdownTimeout at most. It closes ln.
func serve(ctx context.Context, ln net.Listener, cfg server.HTTPConfig) error {
	srv := &http.Server{
		Handler:           server.NewHTTPServer(cfg),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Serve returns only after Shutdown, or on a failure such as a closed listener.
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}

	cfg.Logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if err != nil {
		// Requests still running after the timeout: cut their connections. What they
		// try once the log is closed is refused with a 503.
		err = errors.Join(err, srv.Close())
	}
	<-served // http.ErrServerClosed, now that Shutdown has been called
	if err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	return nil
}
