package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/serf/serf"
)

// RPCAddrTag is the tag under which every member gossips the address of its RPC
// server. Handler.Join receives its value.
const RPCAddrTag = "rpc_addr"

// eventBufferSize is the capacity of the channel between Serf and the event loop.
// Serf sends member events while holding its member lock: when the channel is full,
// Serf stops processing membership (and Members blocks) until the handler catches up.
const eventBufferSize = 256

// deadNodeReclaimTime is how long a member must have been dead before another node may
// take its name at another address: a server restarted elsewhere rejoins after that.
const deadNodeReclaimTime = 30 * time.Second

// Handler is told about the other members of the cluster.
//
// Join is called when a member joins, when it comes back after a failure, and when its
// tags change; addr is the member's RPCAddrTag. Join can therefore be called more than
// once for the same name, and the latest addr is the one to use.
//
// Leave is called when a member leaves gracefully: it said goodbye before it went.
//
// Failed is called when a member is declared failed. It stopped answering, and from
// here a crashed server, a paused one and one cut off by the network look the same:
// it may come back, and Join is then called again. Failed is also called when a member
// is reaped, that is forgotten for good after it stayed failed, or left, for a long
// time (Serf's ReconnectTimeout and TombstoneTimeout). A reap says only that nobody has
// heard from the member for long, not that it said goodbye, so it is no Leave.
//
// Leave and Failed can be called more than once for the same name, and for a name that
// Join never saw; they must tolerate both.
//
// Calls are made one at a time from a single goroutine, in the order Serf reported the
// events, and never for the local node. No call is made after Membership.Leave has
// returned. A call should return quickly: while it runs, later events wait in a buffer,
// and once the buffer is full Serf itself stalls. A Handler must not call
// Membership.Leave, which waits for the event loop and would deadlock. A returned error
// is logged and otherwise ignored: the event is not delivered again.
type Handler interface {
	Join(name, addr string) error
	Leave(name string) error
	Failed(name string) error
}

// Config configures a Membership.
type Config struct {
	// NodeName identifies this server in the cluster. It must be unique in the
	// cluster and should stay the same across restarts. Required: at most 128 letters,
	// digits, '-' and '.' (Serf's ValidateNodeNames). A node that joins
	// with a name another member already has is not rejected by New: Serf finds the
	// conflict a moment later, asks the other members which address owns the name,
	// and the loser shuts itself down (logged at Error level).
	NodeName string

	// BindAddr is the "ip:port" this node gossips on, over UDP and TCP. The host must
	// be an IP address. Port 0 picks a free port; Membership.BindAddr reports the one
	// chosen.
	BindAddr string

	// AdvertiseAddr, if set, is the "ip:port" the other members reach this node at, when
	// it is not BindAddr: a node bound to 0.0.0.0, or behind a NAT (a container). Empty
	// means BindAddr (memberlist picks a private IP when that is 0.0.0.0, and fails if
	// there is none).
	AdvertiseAddr string

	// Tags are gossiped to the other members with this node. They must include
	// RPCAddrTag, and their encoding must fit in 512 bytes. New copies the map.
	Tags map[string]string

	// StartJoinAddrs are the gossip addresses (BindAddr) of existing members to join
	// through. Empty starts a new cluster. New fails if none of them can be reached.
	StartJoinAddrs []string

	// SnapshotPath, if set, is a file where Serf keeps the members it has seen. A node
	// that restarts with it rejoins them by itself, even after a graceful leave and
	// without StartJoinAddrs: without it, the server that started the cluster (it joins
	// nobody) would stay alone after a restart, and the others would have removed it
	// from the Raft configuration when it left. Empty keeps nothing.
	SnapshotPath string

	// Logger receives this package's logs and those of Serf and memberlist (at Debug
	// level, with Serf's own "[WARN]"-style prefix in the message). Every record
	// carries the key node. Nil discards the logs.
	Logger *slog.Logger

	// Tune, if not nil, is called with the Serf configuration before the node is
	// created. Serf's defaults use memberlist.DefaultLANConfig(). Tests use Tune to
	// shorten the probe, gossip and leave timers, so that a cluster on the loopback
	// interface converges and notices failures within a second or two, and to set a
	// memberlist Label that keeps their cluster apart from others. The settings that
	// come from the fields above (node name and its validation, tags, bind address,
	// event channel and loggers) are applied after Tune and override it.
	Tune func(*serf.Config)
}

// Membership is this server's node in the cluster's gossip membership. It calls its
// Handler for the other members' events until Leave is called. Its methods are safe
// for concurrent use.
type Membership struct {
	serf     *serf.Serf
	handler  Handler
	logger   *slog.Logger
	name     string
	bindAddr string
	done     chan struct{} // closed when the event loop has returned

	stopping atomic.Bool // set when Leave (or a failed New) starts stopping Serf
	stopOnce sync.Once
	stopErr  error // result of the first stop; written inside stopOnce
}

// New starts a Serf node for this server, joins the cluster through
// config.StartJoinAddrs (if any) and starts calling handler for the other members'
// events. It returns an error when the config is invalid, the address cannot be bound,
// or none of the StartJoinAddrs can be reached. Nothing is left running then, with one
// exception: when the address cannot be bound, serf v0.11.0 leaves behind one idle
// goroutine (hashicorp/serf#521). A server that cannot bind its address normally
// exits anyway.
func New(handler Handler, config Config) (*Membership, error) {
	if handler == nil {
		return nil, errors.New("discovery: nil Handler")
	}
	if config.NodeName == "" {
		return nil, errors.New("discovery: Config.NodeName is empty")
	}
	if config.Tags[RPCAddrTag] == "" {
		return nil, fmt.Errorf("discovery: Config.Tags has no %q tag", RPCAddrTag)
	}
	ip, port, err := parseBindAddr(config.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("discovery: Config.BindAddr: %w", err)
	}

	logger := config.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node", config.NodeName)
	// Serf and memberlist log through a *log.Logger; this one hands each line to the
	// slog logger at the line's own level (see newLibLogger).
	libLogger := newLibLogger(logger)

	events := make(chan serf.Event, eventBufferSize)
	sc := serf.DefaultConfig()
	// A server that restarts on another address (a container rescheduled elsewhere)
	// keeps its name. memberlist lets a dead member's name come back at a new address
	// only after DeadNodeReclaimTime, and never with its default of 0.
	sc.MemberlistConfig.DeadNodeReclaimTime = deadNodeReclaimTime
	if config.Tune != nil {
		config.Tune(sc)
	}
	sc.NodeName = config.NodeName
	sc.ValidateNodeNames = true
	sc.Tags = maps.Clone(config.Tags)
	sc.EventCh = events
	sc.LogOutput = nil // Serf refuses a config with both LogOutput and Logger.
	sc.Logger = libLogger
	if config.SnapshotPath != "" {
		if err := os.MkdirAll(filepath.Dir(config.SnapshotPath), 0o700); err != nil {
			return nil, fmt.Errorf("discovery: Config.SnapshotPath: %w", err)
		}
		sc.SnapshotPath = config.SnapshotPath
		// A graceful leave writes "left" into the snapshot, and Serf then rejoins
		// nobody at the next start unless told to.
		sc.RejoinAfterLeave = true
	}
	sc.MemberlistConfig.BindAddr = ip
	sc.MemberlistConfig.BindPort = port
	if config.AdvertiseAddr != "" {
		// memberlist uses AdvertisePort only with AdvertiseAddr: both, or neither.
		advIP, advPort, err := parseBindAddr(config.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("discovery: Config.AdvertiseAddr: %w", err)
		}
		sc.MemberlistConfig.AdvertiseAddr = advIP
		sc.MemberlistConfig.AdvertisePort = advPort
	}
	sc.MemberlistConfig.LogOutput = nil
	sc.MemberlistConfig.Logger = libLogger // Serf does not pass its logger on.

	s, err := serf.Create(sc)
	if err != nil {
		// serf v0.11.0 starts its internal query goroutine before it creates memberlist,
		// and stops it only in Shutdown. When memberlist fails (the port is taken),
		// Create returns no Serf to shut down, and that goroutine stays
		// (reported in hashicorp/serf#521, still so in v0.11.0).
		return nil, fmt.Errorf("discovery: start serf: %w", err)
	}
	// With port 0, memberlist binds a free port; the local member shows the real one.
	local := s.LocalMember()
	m := &Membership{
		serf:     s,
		handler:  handler,
		logger:   logger,
		name:     config.NodeName,
		bindAddr: net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port))),
		done:     make(chan struct{}),
	}
	go m.run(events)
	logger.Debug("serf started", "bind_addr", m.bindAddr)

	if len(config.StartJoinAddrs) > 0 {
		// ignoreOld=true: do not replay user events from before we joined. This
		// package uses none, but a joining node never wants them.
		if _, err := s.Join(config.StartJoinAddrs, true); err != nil {
			// Nobody has heard of us yet, so there is no one to say goodbye to.
			return nil, errors.Join(
				fmt.Errorf("discovery: join cluster via %s: %w",
					strings.Join(config.StartJoinAddrs, ", "), err),
				m.stop(false))
		}
	}
	return m, nil
}

// parseBindAddr splits "ip:port" into the form memberlist wants. A host name is
// rejected: memberlist would quietly bind every interface instead.
func parseBindAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("%q: host %q is not an IP address", addr, host)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%q: bad port %q", addr, portStr)
	}
	return host, int(port), nil
}

// run is the event loop: it passes Serf's events to handle until Serf shuts down.
func (m *Membership) run(events <-chan serf.Event) {
	defer close(m.done)
	for {
		select {
		case e := <-events:
			m.handle(e)
		case <-m.serf.ShutdownCh():
			if !m.stopping.Load() {
				// Nobody here asked Serf to stop: it lost a node-name conflict.
				m.logger.Error("serf shut down on its own; this node is no longer a member " +
					"(does another member have the same NodeName?)")
			}
			return
		}
	}
}

// handle turns one Serf event into Handler calls; see the table in the package
// documentation.
func (m *Membership) handle(e serf.Event) {
	me, ok := e.(serf.MemberEvent)
	if !ok {
		return // user events and queries: not used by this package
	}
	for _, member := range me.Members {
		if member.Name == m.name {
			continue // our own join or leave: the handler is told about the others only
		}
		m.logger.Debug("member event", "event", me.Type.String(), "peer", member.Name)
		switch me.Type {
		case serf.EventMemberJoin, serf.EventMemberUpdate:
			addr := member.Tags[RPCAddrTag]
			if addr == "" {
				m.logger.Warn("member has no RPC address tag; ignored",
					"peer", member.Name, "tag", RPCAddrTag)
				continue
			}
			if err := m.handler.Join(member.Name, addr); err != nil {
				m.logger.Error("handler failed on join", "peer", member.Name, "addr", addr, "err", err)
			}
		case serf.EventMemberLeave:
			if err := m.handler.Leave(member.Name); err != nil {
				m.logger.Error("handler failed on leave", "peer", member.Name, "err", err)
			}
		case serf.EventMemberFailed, serf.EventMemberReap:
			if err := m.handler.Failed(member.Name); err != nil {
				m.logger.Error("handler failed on member failure", "peer", member.Name, "err", err)
			}
		}
	}
}

// Members returns a snapshot of the cluster as this node sees it: itself, the other
// live members, and members that left or failed and are not reaped yet (check
// Status). The order is random; look members up by Name. The caller owns the slice.
func (m *Membership) Members() []serf.Member {
	return m.serf.Members()
}

// BindAddr returns the "ip:port" this node gossips on, with the port actually bound
// when Config.BindAddr asked for port 0. It is the address to give other nodes in
// their Config.StartJoinAddrs.
func (m *Membership) BindAddr() string {
	return m.bindAddr
}

// Leave leaves the cluster gracefully, then shuts the node down: the other members
// see it leave (their Handlers get Leave, not Failed), the ports are released, the event loop ends and the
// Handler is not called again. It blocks while the leave is gossiped: about two
// seconds with the default timers (see Timing in the package documentation).
// Leave is idempotent: later calls wait for the first and return its result. If Serf
// has already shut itself down (see Config.NodeName), Leave only waits for the event
// loop and returns nil.
func (m *Membership) Leave() error {
	return m.stop(true)
}

// stop shuts Serf down, first leaving gracefully if graceful is set, and waits for
// the event loop to end. Only the first call does anything.
func (m *Membership) stop(graceful bool) error {
	m.stopOnce.Do(func() {
		m.stopping.Store(true)
		var leaveErr, shutdownErr error
		if graceful {
			// A Serf that has shut itself down refuses to Leave; there is nothing
			// left to leave then.
			if err := m.serf.Leave(); err != nil && m.serf.State() != serf.SerfShutdown {
				leaveErr = fmt.Errorf("discovery: leave: %w", err)
			}
		}
		// Leave only says goodbye; the listeners and goroutines live until Shutdown.
		if err := m.serf.Shutdown(); err != nil {
			shutdownErr = fmt.Errorf("discovery: shutdown: %w", err)
		} else {
			<-m.done // Serf closes ShutdownCh when Shutdown succeeds.
		}
		m.stopErr = errors.Join(leaveErr, shutdownErr)
	})
	return m.stopErr
}
