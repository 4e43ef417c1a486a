package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/serf/serf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"golog/internal/auth"
	"golog/internal/discovery"
	"golog/internal/log"
	"golog/internal/replication"
	"golog/internal/server"
)

// Timeouts of the servers. ReadHeaderTimeout stops HTTP clients that open connections
// and send nothing (slowloris); the body is bounded by MaxBodyBytes and readTimeout.
// shutdownTimeout is how long Shutdown lets requests in flight finish.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
)

// Config configures an Agent.
type Config struct {
	// NodeName names this server in the cluster, and is the Origin of every record
	// produced on it. Required. It must be unique in the cluster and stay the same
	// across restarts; see discovery.Config.NodeName for the characters allowed.
	NodeName string
	// DataDir is the directory of the log; it is created if missing. Required.
	DataDir string

	// BindAddr is the "ip:port" the server gossips on (Serf, UDP and TCP). Port 0 picks
	// a free port; BindAddr reports it. Required.
	BindAddr string
	// StartJoinAddrs are the BindAddrs of servers already in the cluster, to join
	// through. Empty starts a new cluster.
	StartJoinAddrs []string

	// RPCAddr is the "host:port" the gRPC server listens on, unless RPCListener is set;
	// one of the two is required. The other servers dial the address the listener
	// has, except when it listens on every interface (0.0.0.0 or [::]): then they dial
	// the host of BindAddr at the listener's port.
	RPCAddr string
	// RPCListener, if set, is served instead of listening on RPCAddr (tests use it to
	// serve on a port picked at run time). The Agent closes it, even when New fails.
	RPCListener net.Listener

	// HTTPAddr, if set, is the "host:port" of the HTTP JSON API, unless HTTPListener is
	// set; with neither, there is no HTTP API. The HTTP API has no authentication: the
	// caller decides that the address is safe (cmd/server allows loopback only). The
	// Agent closes HTTPListener, even when New fails.
	HTTPAddr     string
	HTTPListener net.Listener
	// MaxBodyBytes is the largest HTTP request body accepted; zero or less means
	// server.DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// ServerTLSConfig secures the gRPC server. Required, and it must require and verify
	// client certificates (config.SetupTLSConfig with Server set does).
	ServerTLSConfig *tls.Config
	// PeerTLSConfig is the client side of the connections this server opens to the
	// others to replicate their records. Required. Its certificate must be one the
	// peers' ACL allows to consume (root): a server replicates as a client of its
	// peers. Leave ServerName empty, so that each peer's certificate is checked
	// against the host of that peer's RPC address.
	PeerTLSConfig *tls.Config
	// ACLModelFile and ACLPolicyFile are the casbin model and policy of the gRPC
	// server's ACL. Required.
	ACLModelFile  string
	ACLPolicyFile string

	// Logger receives the logs of every part of the agent, with the key node. Nil
	// discards them.
	Logger *slog.Logger
	// Tune, if set, is passed on as discovery.Config.Tune: tests shorten Serf's timers
	// with it.
	Tune func(*serf.Config)
}

// An Agent is one server of the cluster: a log, served over gRPC (and HTTP if asked),
// replicating the records produced on the other servers, which it finds through
// gossip membership. Create it with New and stop it with Shutdown.
type Agent struct {
	config Config
	logger *slog.Logger // config.Logger with the node key

	// Set by New, one step after the other; nil when the step was not reached. Only
	// Shutdown changes anything afterwards.
	rpcLn      net.Listener // closed by grpcServer once it serves, by Shutdown otherwise
	httpLn     net.Listener // likewise, by httpServer; nil without an HTTP API
	rpcAddr    string       // the gRPC address the other servers dial
	acl        *auth.Authorizer
	log        *log.Log
	grpcServer *server.GRPCServer
	grpcServed chan error // receives what grpcServer.Serve returned
	httpServer *http.Server
	httpServed chan error // receives what httpServer.Serve returned, nil for ErrServerClosed
	replicator *replication.Replicator
	membership *discovery.Membership

	stopped      chan struct{} // closed when the gRPC or HTTP server stops serving
	stoppedOnce  sync.Once
	shutdownOnce sync.Once
	shutdownErr  error // written inside shutdownOnce
}

// New starts a server: it opens the log, serves it over gRPC (and HTTP), starts the
// replicator and joins the cluster, in that order, so that by the time the other
// servers hear of this one, it answers their requests. If a step fails, New stops what
// it had started and returns the error.
func New(config Config) (*Agent, error) {
	logger := config.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Agent{
		config:  config,
		logger:  logger.With("node", config.NodeName),
		rpcLn:   config.RPCListener,
		httpLn:  config.HTTPListener,
		stopped: make(chan struct{}),
	}
	for _, setup := range []func() error{
		a.checkConfig,
		a.listen, // before the log, so that a port in use is reported at once
		a.openLog,
		a.serveGRPC,
		a.serveHTTP,
		a.startReplicator,
		a.joinCluster,
	} {
		if err := setup(); err != nil {
			return nil, errors.Join(err, a.Shutdown())
		}
	}
	a.logger.Info("agent started", "rpc_addr", a.rpcAddr, "bind_addr", a.membership.BindAddr(),
		"http_addr", a.HTTPAddr(), "data_dir", config.DataDir)
	return a, nil
}

// checkConfig returns an error for a Config that lacks something, and loads the ACL.
func (a *Agent) checkConfig() error {
	c := a.config
	switch {
	case c.NodeName == "":
		return errors.New("agent: Config.NodeName is required")
	case c.DataDir == "":
		return errors.New("agent: Config.DataDir is required")
	case c.BindAddr == "":
		return errors.New("agent: Config.BindAddr is required")
	case c.RPCAddr == "" && c.RPCListener == nil:
		return errors.New("agent: Config.RPCAddr or Config.RPCListener is required")
	case c.ServerTLSConfig == nil:
		return errors.New("agent: Config.ServerTLSConfig is required: the gRPC service is never served in plaintext")
	case c.PeerTLSConfig == nil:
		return errors.New("agent: Config.PeerTLSConfig is required: servers replicate over mutual TLS")
	}
	acl, err := auth.New(c.ACLModelFile, c.ACLPolicyFile)
	if err != nil {
		return err
	}
	a.acl = acl
	return nil
}

// listen listens on the configured addresses where no listener was given, and works
// out the gRPC address to advertise.
func (a *Agent) listen() error {
	var err error
	if a.rpcLn == nil {
		if a.rpcLn, err = net.Listen("tcp", a.config.RPCAddr); err != nil {
			return fmt.Errorf("agent: gRPC: %w", err)
		}
	}
	if a.httpLn == nil && a.config.HTTPAddr != "" {
		if a.httpLn, err = net.Listen("tcp", a.config.HTTPAddr); err != nil {
			return fmt.Errorf("agent: HTTP: %w", err)
		}
	}
	a.rpcAddr, err = advertiseAddr(a.rpcLn.Addr(), a.config.BindAddr)
	return err
}

// advertiseAddr returns the address the other servers dial to reach a gRPC server
// listening at listen. That is listen itself, unless it is a wildcard address such as
// 0.0.0.0:8400 or [::]:8400 (every interface), which no other machine can dial. Then it
// is the host of bindAddr, the address Serf gossips on, with the listener's port; and
// an error if that host is a wildcard too.
func advertiseAddr(listen net.Addr, bindAddr string) (string, error) {
	tcp, ok := listen.(*net.TCPAddr)
	if !ok || (len(tcp.IP) > 0 && !tcp.IP.IsUnspecified()) {
		return listen.String(), nil
	}
	host, _, err := net.SplitHostPort(bindAddr)
	if err != nil {
		return "", fmt.Errorf("agent: Config.BindAddr: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		return "", fmt.Errorf("agent: gRPC listens on every interface (%s), and BindAddr %q is no address "+
			"the other servers can dial either: listen for gRPC on the address they should dial", listen, bindAddr)
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port)), nil
}

// openLog opens the log in DataDir.
func (a *Agent) openLog() error {
	l, err := log.NewLog(a.config.DataDir, log.Config{Logger: a.logger})
	if err != nil {
		return err
	}
	a.log = l
	return nil
}

// serveGRPC serves the log over gRPC. Records produced through it are stamped with
// this server's name.
func (a *Agent) serveGRPC() error {
	srv, err := server.NewGRPCServer(server.GRPCConfig{
		Log:        stampedLog{Log: a.log, origin: a.config.NodeName},
		TLS:        a.config.ServerTLSConfig,
		Authorizer: a.acl,
		Logger:     a.logger,
	})
	if err != nil {
		return err
	}
	a.grpcServer = srv
	a.grpcServed = make(chan error, 1)
	go func() {
		err := srv.Serve(a.rpcLn) // nil after Shutdown
		if err != nil {
			a.logger.Error("gRPC server stopped serving", "err", err)
			err = fmt.Errorf("serve gRPC: %w", err)
		}
		a.grpcServed <- err
		a.stoppedOnce.Do(func() { close(a.stopped) })
	}()
	return nil
}

// serveHTTP serves the log over HTTP, if there is an HTTP listener. Records produced
// through it are stamped with this server's name.
func (a *Agent) serveHTTP() error {
	if a.httpLn == nil {
		return nil
	}
	srv := &http.Server{
		Handler: server.NewHTTPServer(server.HTTPConfig{
			Log:          stampedLog{Log: a.log, origin: a.config.NodeName},
			MaxBodyBytes: a.config.MaxBodyBytes,
			Logger:       a.logger,
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	a.httpServer = srv
	a.httpServed = make(chan error, 1)
	go func() {
		err := srv.Serve(a.httpLn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil // after Shutdown
		} else {
			a.logger.Error("HTTP server stopped serving", "err", err)
			err = fmt.Errorf("serve HTTP: %w", err)
		}
		a.httpServed <- err
		a.stoppedOnce.Do(func() { close(a.stopped) })
	}()
	return nil
}

// startReplicator creates the replicator. It appends to the log itself, not through
// stampedLog: copies keep the Origin of the server they were produced on.
func (a *Agent) startReplicator() error {
	r, err := replication.New(replication.Config{
		Log:         a.log,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(a.config.PeerTLSConfig))},
		Logger:      a.logger,
	})
	if err != nil {
		return err
	}
	a.replicator = r
	return nil
}

// joinCluster starts the Serf node, which tells the replicator about the other servers
// from now on, and joins the cluster through StartJoinAddrs.
func (a *Agent) joinCluster() error {
	m, err := discovery.New(a.replicator, discovery.Config{
		NodeName:       a.config.NodeName,
		BindAddr:       a.config.BindAddr,
		Tags:           map[string]string{discovery.RPCAddrTag: a.rpcAddr},
		StartJoinAddrs: a.config.StartJoinAddrs,
		Logger:         a.config.Logger, // discovery adds the node key itself
		Tune:           a.config.Tune,
	})
	if err != nil {
		return err
	}
	a.membership = m
	return nil
}

// RPCAddr returns the address of the gRPC server, as the other servers dial it.
func (a *Agent) RPCAddr() string { return a.rpcAddr }

// BindAddr returns the address this server gossips on, with the port actually bound:
// the address other servers give in their StartJoinAddrs.
func (a *Agent) BindAddr() string { return a.membership.BindAddr() }

// HTTPAddr returns the address of the HTTP API, or "" if there is none.
func (a *Agent) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// Stopped returns a channel that is closed when the gRPC or the HTTP server stops
// serving: after Shutdown, or before it if serving fails (a broken listener). The
// agent is of no use then; call Shutdown, which returns the error.
func (a *Agent) Stopped() <-chan struct{} { return a.stopped }

// Shutdown stops the server in the reverse order of New: it leaves the cluster (the
// others stop replicating from it, and see a leave rather than a failure), stops the
// replicator, stops the HTTP and gRPC servers (ConsumeStreams end at once, other
// requests get a few seconds to finish) and closes the log, which releases the data
// directory. Every step runs even if one before it failed; the errors are joined.
//
// Shutdown is idempotent and safe for concurrent use: later and concurrent calls wait
// for the first one and return its result.
func (a *Agent) Shutdown() error {
	a.shutdownOnce.Do(func() {
		a.logger.Info("shutting down")
		var errs []error
		if a.membership != nil {
			errs = append(errs, a.membership.Leave())
		}
		if a.replicator != nil {
			errs = append(errs, a.replicator.Close())
		}
		errs = append(errs, a.stopHTTP(), a.stopGRPC())
		if a.log != nil {
			if err := a.log.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close log: %w", err))
			}
		}
		a.shutdownErr = errors.Join(errs...)
		if a.shutdownErr == nil {
			a.logger.Info("stopped")
		}
	})
	return a.shutdownErr
}

// stopHTTP stops the HTTP server, or closes its listener if it never served.
func (a *Agent) stopHTTP() error {
	if a.httpServer == nil {
		if a.httpLn != nil {
			_ = a.httpLn.Close() // nothing was served: there is nothing to lose
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := a.httpServer.Shutdown(ctx)
	if err != nil {
		// Requests still running after the timeout: cut their connections.
		err = errors.Join(err, a.httpServer.Close())
	}
	if err = errors.Join(err, <-a.httpServed); err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	return nil
}

// stopGRPC stops the gRPC server, or closes its listener if it never served.
func (a *Agent) stopGRPC() error {
	if a.grpcServer == nil {
		if a.rpcLn != nil {
			_ = a.rpcLn.Close() // nothing was served: there is nothing to lose
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := errors.Join(a.grpcServer.Shutdown(ctx), <-a.grpcServed); err != nil {
		return fmt.Errorf("shut down gRPC server: %w", err)
	}
	return nil
}
