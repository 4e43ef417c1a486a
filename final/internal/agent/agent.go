package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/serf"
	"github.com/soheilhy/cmux"

	"golog/internal/auth"
	"golog/internal/consensus"
	"golog/internal/console"
	"golog/internal/discovery"
	"golog/internal/lab"
	"golog/internal/server"
	"golog/internal/storage"
	"golog/internal/telemetry"
)

// Timeouts of the servers. ReadHeaderTimeout stops HTTP clients that open connections
// and send nothing (slowloris); the body is bounded by MaxBodyBytes and readTimeout.
// shutdownTimeout is how long Shutdown lets requests in flight finish. muxReadTimeout
// bounds how long a new connection to the RPC port may take to send its first byte,
// which tells Raft from gRPC: a connection that sends nothing would otherwise hold a
// goroutine, and Shutdown, for ever.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
	muxReadTimeout    = 5 * time.Second
	soloElectionWait  = 10 * time.Second // see awaitSoloElection
)

// Config configures an Agent.
type Config struct {
	// NodeName names this server in the cluster, both in gossip and in Raft (its
	// server ID). Required. It must be unique in the cluster and stay the same across
	// restarts; see discovery.Config.NodeName for the characters allowed.
	NodeName string
	// DataDir is the directory of the log and its Raft state; it is created if
	// missing. Required.
	DataDir string

	// BindAddr is the "ip:port" the server gossips on (Serf, UDP and TCP). Port 0 picks
	// a free port; BindAddr reports it. Required.
	BindAddr string
	// StartJoinAddrs are the BindAddrs of servers already in the cluster, to join
	// through. Empty: this server waits for others to join it.
	StartJoinAddrs []string
	// Bootstrap makes this server start a new cluster, with itself as the only voter
	// and so its leader, if it has no Raft state in DataDir yet. It is ignored when
	// there is state: a server restarting never starts a second cluster, so it is safe
	// to leave set. Set it on exactly one server of a new cluster (golog agent sets it
	// when there are no StartJoinAddrs); the leader adds the others as they join.
	Bootstrap bool

	// RPCAddr is the "host:port" the server listens on for gRPC and Raft, unless
	// RPCListener is set; one of the two is required. The other servers dial the
	// address the listener has, except when it listens on every interface (0.0.0.0 or
	// [::]): then they dial the host of BindAddr at the listener's port.
	RPCAddr string
	// AdvertiseRPCAddr, if set, is the "host:port" the other servers dial for gRPC and
	// Raft, when that is not the listener's address: a server in a container, which
	// listens on 0.0.0.0 and is reached by its service name or another IP.
	AdvertiseRPCAddr string
	// AdvertiseBindAddr, if set, is the "ip:port" the other servers gossip to, when that
	// is not BindAddr (discovery.Config.AdvertiseAddr).
	AdvertiseBindAddr string
	// RPCListener, if set, is served instead of listening on RPCAddr (tests use it to
	// serve on a port picked at run time). The Agent closes it, even when New fails.
	RPCListener net.Listener

	// HTTPAddr, if set, is the "host:port" of the HTTP JSON API, unless HTTPListener is
	// set; with neither, there is no HTTP API. The HTTP API has no authentication: the
	// caller decides that the address is safe (golog agent allows loopback only, unless
	// told otherwise). The
	// Agent closes HTTPListener, even when New fails.
	HTTPAddr     string
	HTTPListener net.Listener
	// MaxBodyBytes is the largest HTTP request body accepted; zero or less means
	// server.DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// ServerTLSConfig secures the connections other parties open to this server:
	// gRPC from clients and Raft from the other servers. Required, and it must require
	// and verify client certificates (config.SetupTLSConfig with Server set does).
	ServerTLSConfig *tls.Config
	// PeerTLSConfig is the client side of the Raft connections this server opens to
	// the others. Required. Its certificate must be a server identity (one of
	// PeerNames) that is valid for client authentication: the server certificate
	// itself. Leave ServerName empty, so that each peer's certificate is checked
	// against the host of that peer's address.
	PeerTLSConfig *tls.Config
	// PeerNames are the certificate Common Names of the servers: only they may speak
	// Raft, in either direction. Empty means []string{"server"}, the name make gencert
	// gives the server certificate.
	PeerNames []string
	// ACLModelFile and ACLPolicyFile are the casbin model and policy of the gRPC
	// server's ACL. Required.
	ACLModelFile  string
	ACLPolicyFile string

	// Segment sets the size of the log's segments; zero fields mean the defaults
	// (storage.SegmentConfig). It must be the same on every server.
	Segment storage.SegmentConfig
	// Durability says when a write is on disk (consensus.Durability); the default
	// flushes before a write is acknowledged.
	Durability consensus.Durability
	// Retention removes old records (consensus.Retention); the zero value keeps them.
	Retention consensus.Retention
	// SnapshotThreshold and SnapshotInterval: Raft snapshots after that many new
	// entries, checked that often (consensus.RaftConfig); zero means the defaults.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration

	// RemoveFailedAfter is how long a server must stay failed, as the leader's gossip
	// sees it, before the leader removes it from the Raft configuration; and it is
	// removed then only if the servers left still make a quorum of healthy voters. A
	// server that leaves gracefully is removed at once, and one that comes back is a
	// voter again at once. Zero or less means DefaultRemoveFailedAfter (5 minutes);
	// see there why it is long. Tests shorten it.
	RemoveFailedAfter time.Duration

	// Tracing, if its Endpoint is set, sends a span of every gRPC call this server
	// serves or makes to an OpenTelemetry collector (package telemetry). Off by default.
	Tracing telemetry.TracingConfig

	// Logger receives the logs of every part of the agent, with the key node. Nil
	// discards them.
	Logger *slog.Logger
	// Tune, if set, is passed on as discovery.Config.Tune: tests shorten Serf's timers
	// with it.
	Tune func(*serf.Config)
	// RaftTune, if set, is called with the Raft configuration before the log opens:
	// tests shorten Raft's timeouts and take snapshots more often with it. The fields
	// that come from this Config (LocalID, StreamLayer, Bootstrap) are set after it
	// and override it.
	RaftTune func(*consensus.RaftConfig)
	// RaftDial, if set, opens the TCP connections this server's Raft opens to the
	// others, in place of a net.Dialer (consensus.StreamLayerConfig.Dial). Tests use it to
	// cut a server off from the others; leave it nil otherwise.
	RaftDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Lab turns lab mode on (package lab), for a teaching cluster on one machine: the
	// HTTP address then also serves /api/lab/, through which the cluster console's
	// buttons stop, kill, pause and restart servers (with LabSupervisor) and cut this
	// server off from the others. Off by default. New refuses it (lab.ErrNotLoopback)
	// unless every address is loopback: RPC, gossip, HTTP, advertised, join and
	// LabSupervisor. It needs the HTTP API, and sets RaftDial and the gossip transport
	// itself.
	Lab bool
	// LabSupervisor is the loopback "host:port" of the lab supervisor (golog lab) that
	// started this server in lab mode; this server tells it where it serves. Empty:
	// none did, and only cutting off works.
	LabSupervisor string
}

// An Agent is one server of the cluster: a log replicated with Raft, served over gRPC
// (and HTTP if asked), whose Raft membership follows the gossip membership. Create it
// with New and stop it with Shutdown.
type Agent struct {
	config Config
	logger *slog.Logger // config.Logger with the node key

	// Set by New, one step after the other; nil when the step was not reached. Only
	// Shutdown changes anything afterwards.
	rpcLn       net.Listener // the RPC port: gRPC and Raft; closed when gRPC stops, or by closeRPCPort
	httpLn      net.Listener // closed by httpServer once it serves, by stopHTTP otherwise; nil without HTTP
	rpcAddr     string       // the address the other servers dial, for gRPC and Raft
	acl         *auth.Authorizer
	muxServed   chan error    // receives what mux.Serve returned
	raftLn      net.Listener  // the Raft connections on the RPC port
	grpcLn      net.Listener  // the gRPC connections on the RPC port
	raftRelease chan struct{} // closed by Shutdown once Raft has stopped; see heldListener
	dlog        *consensus.DistributedLog
	metrics     *telemetry.Metrics // see telemetry.go
	tracing     *telemetry.Tracing // nil unless Config.Tracing has an endpoint
	apiLog      server.Log         // dlog as the gRPC and HTTP servers see it: counted by metrics
	peers       *peers             // gRPC connections to the other servers
	grpcServer  *server.GRPCServer
	grpcServed  chan error // receives what grpcServer.Serve returned
	httpServer  *http.Server
	httpServed  chan error // receives what httpServer.Serve returned, nil for ErrServerClosed
	voters      *voters
	membership  *discovery.Membership
	watchStop   chan struct{} // closed by Shutdown to stop watchLeadership's goroutine
	watchDone   chan struct{} // closed when that goroutine has returned
	healthStop  chan struct{} // closed by Shutdown to stop watchHealth's goroutine
	healthDone  chan struct{} // closed when that goroutine has returned

	// The cluster console (package console) and lab mode (package lab), set by New like
	// the fields above; labMode is nil unless Config.Lab.
	recorder     *console.Recorder
	recorderStop context.CancelFunc // stops the recorder's goroutine
	recorderDone chan struct{}      // closed when it has returned
	console      *console.Console
	labMode      *lab.Mode

	stopped      chan struct{} // closed when the gRPC or HTTP server stops serving
	stoppedOnce  sync.Once
	shutdownOnce sync.Once
	shutdownErr  error // written inside shutdownOnce
}

// New starts a server: it opens the log and starts Raft, joins the gossip cluster,
// starts following its own leadership, and serves the log over gRPC (and HTTP), in
// that order. By the time the other servers hear of this one, it answers their Raft
// requests, which is all they need from it; a client that connects before gRPC serves
// waits in the port's queue. A server alone in its cluster elects itself before it
// serves (see awaitSoloElection). If a step fails, New stops what it had started and
// returns the error.
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
		a.setupLab,
		a.serveMux,
		a.openLog,
		a.setupTelemetry,
		a.recordEvents,
		a.joinCluster,
		a.watchLeadership,
		a.awaitSoloElection,
		a.serveGRPC,
		a.watchHealth,
		a.serveHTTP,
		a.registerLab,
	} {
		if err := setup(); err != nil {
			return nil, errors.Join(err, a.Shutdown())
		}
	}
	a.logger.Info("agent started", "rpc_addr", a.rpcAddr, "bind_addr", a.membership.BindAddr(),
		"http_addr", a.HTTPAddr(), "data_dir", config.DataDir, "bootstrap", config.Bootstrap)
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
		return errors.New("agent: Config.ServerTLSConfig is required: gRPC and Raft are never served in plaintext")
	case c.PeerTLSConfig == nil:
		return errors.New("agent: Config.PeerTLSConfig is required: servers speak Raft over mutual TLS")
	}
	acl, err := auth.New(c.ACLModelFile, c.ACLPolicyFile)
	if err != nil {
		return err
	}
	a.acl = acl
	return nil
}

// listen listens on the configured addresses where no listener was given, and works
// out the RPC address to advertise.
func (a *Agent) listen() error {
	var err error
	if a.rpcLn == nil {
		if a.rpcLn, err = net.Listen("tcp", a.config.RPCAddr); err != nil {
			return fmt.Errorf("agent: RPC: %w", err)
		}
	}
	if a.httpLn == nil && a.config.HTTPAddr != "" {
		if a.httpLn, err = net.Listen("tcp", a.config.HTTPAddr); err != nil {
			return fmt.Errorf("agent: HTTP: %w", err)
		}
	}
	if a.config.AdvertiseRPCAddr != "" {
		a.rpcAddr = a.config.AdvertiseRPCAddr
		return nil
	}
	bindAddr := a.config.BindAddr
	if a.config.AdvertiseBindAddr != "" {
		bindAddr = a.config.AdvertiseBindAddr
	}
	a.rpcAddr, err = advertiseAddr(a.rpcLn.Addr(), bindAddr)
	return err
}

// advertiseAddr returns the address the other servers dial to reach a server
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
		return "", fmt.Errorf("agent: the RPC port listens on every interface (%s), and BindAddr %q is no address "+
			"the other servers can dial either: listen for RPC on the address they should dial", listen, bindAddr)
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port)), nil
}

// serveMux splits the RPC port in two: connections whose first byte is consensus.RaftRPC go
// to Raft, every other one to gRPC (a TLS connection starts with 0x16). The Raft
// matcher comes first, as cmux tries matchers in order and cmux.Any takes anything.
func (a *Agent) serveMux() error {
	mux := cmux.New(a.rpcLn)
	mux.SetReadTimeout(muxReadTimeout)
	a.raftRelease = make(chan struct{})
	a.raftLn = heldListener{
		Listener: mux.Match(func(r io.Reader) bool {
			var first [1]byte
			_, err := io.ReadFull(r, first[:])
			return err == nil && first[0] == consensus.RaftRPC
		}),
		release: a.raftRelease,
	}
	a.grpcLn = mux.Match(cmux.Any())
	a.muxServed = make(chan error, 1)
	go func() {
		err := mux.Serve()
		if errors.Is(err, net.ErrClosed) {
			err = nil // Shutdown closed the port
		} else if err != nil {
			err = fmt.Errorf("serve RPC port: %w", err)
		}
		a.muxServed <- err
	}()
	return nil
}

// heldListener is the Raft side of the RPC port. When the port is closed, a cmux
// listener fails for good; the StreamLayer then fails every Accept, and raft's
// transport logs each failure as an error and tries again, until raft shuts down. As
// Shutdown closes the port (by stopping gRPC) a moment before it shuts Raft down,
// heldListener holds the failure back until release is closed, after Raft has stopped.
type heldListener struct {
	net.Listener
	release <-chan struct{}
}

func (l heldListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		<-l.release
	}
	return conn, err
}

// openLog opens the replicated log in DataDir and starts its Raft server, which speaks
// to the other servers over the Raft side of the RPC port.
func (a *Agent) openLog() error {
	peerNames := a.config.PeerNames
	if len(peerNames) == 0 {
		peerNames = []string{"server"}
	}
	stream, err := consensus.NewStreamLayer(a.raftLn, consensus.StreamLayerConfig{
		ServerTLSConfig: a.config.ServerTLSConfig,
		PeerTLSConfig:   a.config.PeerTLSConfig,
		ServerNames:     peerNames,
		AdvertiseAddr:   a.rpcAddr,
		Dial:            a.config.RaftDial,
		Logger:          a.logger,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.peers = newPeers(a.config.PeerTLSConfig)
	c := consensus.Config{
		Segment:    a.config.Segment,
		Durability: a.config.Durability,
		Retention:  a.config.Retention,
		ReadIndex:  a.peers.readIndex,
		Logger:     a.config.Logger, // the log adds the node key itself
	}
	c.Raft.SnapshotThreshold = a.config.SnapshotThreshold
	c.Raft.SnapshotInterval = a.config.SnapshotInterval
	if a.config.RaftTune != nil {
		a.config.RaftTune(&c.Raft)
	}
	c.Raft.LocalID = raft.ServerID(a.config.NodeName)
	c.Raft.StreamLayer = stream
	c.Raft.Bootstrap = a.config.Bootstrap
	dlog, err := consensus.NewDistributedLog(a.config.DataDir, c) // closes stream if it fails
	if err != nil {
		return err
	}
	a.dlog = dlog
	return nil
}

// awaitSoloElection waits, if this server is the only voter of its cluster, until it
// has elected itself, which takes one to two heartbeat timeouts, and has caught up:
// rebuilt its records from its Raft log (see consensus.DistributedLog.Read). That is a new
// cluster it has just bootstrapped, or a cluster of one restarting. Then the first
// write finds a leader and the first read finds every record written before the
// restart: requests sent meanwhile wait in the listeners' queues rather than being
// refused. Gossip is up already, so other servers can join meanwhile. A server of a
// larger cluster does not wait: its leader may need servers that are not up yet; until
// it has caught up, it answers reads with UNAVAILABLE (HTTP 503). If the wait takes
// longer than soloElectionWait, something is wrong with this server; it starts anyway,
// with a warning, refusing writes until it leads and reads until it has caught up.
func (a *Agent) awaitSoloElection() error {
	servers, err := a.dlog.GetServers()
	if err != nil {
		return err
	}
	if len(servers) != 1 || servers[0].ID != a.config.NodeName {
		return nil
	}
	deadline := time.Now().Add(soloElectionWait)
	if err := a.dlog.WaitForLeader(soloElectionWait); err != nil {
		a.logger.Warn("the only voter of the cluster has not elected itself", "err", err)
		return nil
	}
	select {
	case <-a.dlog.Ready():
	case <-time.After(time.Until(deadline)):
		a.logger.Warn("the only voter of the cluster has not caught up with its Raft log",
			"waited", soloElectionWait)
	}
	return nil
}

// serveGRPC serves the log over gRPC, on the gRPC side of the RPC port.
func (a *Agent) serveGRPC() error {
	srv, err := server.NewGRPCServer(server.GRPCConfig{
		Log:        a.apiLog,
		TLS:        a.config.ServerTLSConfig,
		Authorizer: a.acl,
		Logger:     a.logger,
	}, a.grpcServerOptions()...)
	if err != nil {
		return err
	}
	a.grpcServer = srv
	a.grpcServed = make(chan error, 1)
	go func() {
		err := srv.Serve(a.grpcLn) // nil after Shutdown
		if err != nil {
			a.logger.Error("gRPC server stopped serving", "err", err)
			err = fmt.Errorf("serve gRPC: %w", err)
		}
		a.grpcServed <- err
		a.stoppedOnce.Do(func() { close(a.stopped) })
	}()
	return nil
}

// healthInterval is how often the agent updates what the gRPC health service answers.
const healthInterval = 250 * time.Millisecond

// watchHealth starts a goroutine that keeps the gRPC health service's answer up to
// date: SERVING while this server knows a leader and has caught up after its start (see
// server.GRPCServer.SetServing), like /readyz.
func (a *Agent) watchHealth() error {
	a.healthStop = make(chan struct{})
	a.healthDone = make(chan struct{})
	go func() {
		defer close(a.healthDone)
		ticker := time.NewTicker(healthInterval)
		defer ticker.Stop()
		serving := false
		for {
			st := a.dlog.Status()
			if now := st.LeaderID != "" && st.Ready; now != serving {
				a.grpcServer.SetServing(now)
				a.logger.Info("health", "serving", now, "leader", st.LeaderID, "ready", st.Ready)
				serving = now
			}
			select {
			case <-ticker.C:
			case <-a.healthStop:
				return
			}
		}
	}()
	return nil
}

// serveHTTP serves the log over HTTP, if there is an HTTP listener. A write that
// reaches a follower is forwarded to the leader.
func (a *Agent) serveHTTP() error {
	if a.httpLn == nil {
		return nil
	}
	srv := &http.Server{
		Handler: a.httpHandler(server.NewHTTPServer(server.HTTPConfig{
			Log:          a.apiLog,
			Forward:      a.peers.forward,
			MaxBodyBytes: a.config.MaxBodyBytes,
			Logger:       a.logger,
		})),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(a.console.Close) // the console's streams end at once
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

// joinCluster starts the Serf node, which from now on tells voters about the other
// servers, and joins the cluster through StartJoinAddrs. The RPC address goes out in
// the rpc_addr tag: it is where the others reach this server's gRPC and Raft; the HTTP
// address, if any, in the http_addr tag, where their consoles fetch this server's state.
// Gossip's events go to voters, then to the console's recorder.
func (a *Agent) joinCluster() error {
	removeFailedAfter := a.config.RemoveFailedAfter
	if removeFailedAfter <= 0 {
		removeFailedAfter = DefaultRemoveFailedAfter
	}
	a.voters = newVoters(a.dlog, a.config.NodeName, removeFailedAfter, a.logger)
	m, err := discovery.New(a.gossipHandler(), discovery.Config{
		NodeName:       a.config.NodeName,
		BindAddr:       a.config.BindAddr,
		AdvertiseAddr:  a.config.AdvertiseBindAddr,
		Tags:           a.gossipTags(),
		StartJoinAddrs: a.config.StartJoinAddrs,
		SnapshotPath:   filepath.Join(a.config.DataDir, "gossip", "members"),
		Logger:         a.config.Logger, // discovery adds the node key itself
		Tune:           a.config.Tune,
	})
	if err != nil {
		return err
	}
	a.membership = m
	a.voters.members = m.Members
	return nil
}

// watchLeadership starts a goroutine that follows this server's leadership and, while
// it leads, reconciles the Raft configuration with the gossip membership (voters.run).
func (a *Agent) watchLeadership() error {
	changes, stopChanges := a.dlog.LeadershipChanges()
	a.watchStop = make(chan struct{})
	a.watchDone = make(chan struct{})
	go func() {
		defer close(a.watchDone)
		defer stopChanges()
		a.voters.run(changes, a.watchStop)
	}()
	return nil
}

// RPCAddr returns the address of the gRPC (and Raft) server, as the other servers
// dial it.
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

// Shutdown stops the server. It leaves the cluster before it stops serving, so that
// the others see it go while it still answers, and closes the port last:
//
//  1. It stops reconciling. If it leads a cluster with other voters, it hands the
//     leadership to one of them (the writes in flight complete under the new leader
//     instead of failing), and if that fails it removes itself from the Raft
//     configuration, so that the others elect a leader in a configuration without it:
//     of a cluster of two, the one left could otherwise never win a majority.
//  2. It leaves the gossip cluster: the others see a leave rather than a failure, and
//     their leader removes this server from the Raft configuration at once (a failed
//     server would stay a voter for RemoveFailedAfter).
//  3. It stops the HTTP and gRPC servers: ConsumeStreams end at once, other requests
//     get a few seconds to finish. Stopping gRPC closes its listener, and a cmux
//     listener's Close closes the shared port under it, Raft's side included. That is
//     why the StreamLayer does not own its listener, and why Raft's side is held (see
//     heldListener).
//  4. It shuts Raft down and closes the log, which releases the data directory.
//  5. It closes the port if nothing did, and waits for the multiplexer to return.
//
// Every step runs even if one before it failed; the errors are joined. Shutdown is
// idempotent and safe for concurrent use: later and concurrent calls wait for the
// first one and return its result.
func (a *Agent) Shutdown() error {
	a.shutdownOnce.Do(func() {
		a.logger.Info("shutting down")
		var errs []error
		if a.watchStop != nil {
			close(a.watchStop)
			<-a.watchDone
		}
		if a.healthStop != nil {
			close(a.healthStop)
			<-a.healthDone
		}
		if a.voters != nil {
			a.voters.handOverIfLeader()
		}
		if a.membership != nil {
			errs = append(errs, a.membership.Leave())
		}
		errs = append(errs, a.stopHTTP(), a.stopGRPC())
		if a.peers != nil {
			errs = append(errs, a.peers.close())
		}
		errs = append(errs, a.stopTracing())
		a.stopRecording()
		if a.dlog != nil {
			errs = append(errs, a.dlog.Close())
		}
		errs = append(errs, a.closeRPCPort())
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

// stopGRPC stops the gRPC server, if it was started. This closes the RPC port.
func (a *Agent) stopGRPC() error {
	if a.grpcServer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := errors.Join(a.grpcServer.Shutdown(ctx), <-a.grpcServed); err != nil {
		return fmt.Errorf("shut down gRPC server: %w", err)
	}
	return nil
}

// closeRPCPort closes the RPC port, unless the gRPC server has already, and waits for
// the multiplexer to return. It runs last: Raft has stopped, so the Raft side may now
// see its listener fail.
func (a *Agent) closeRPCPort() error {
	if a.raftRelease != nil {
		close(a.raftRelease)
	}
	if a.rpcLn != nil {
		_ = a.rpcLn.Close() // already closed if gRPC served: no news then
	}
	if a.muxServed != nil {
		// The multiplexer returns once the connections it was still sorting have sent
		// their first byte, or within muxReadTimeout.
		return <-a.muxServed
	}
	return nil
}
