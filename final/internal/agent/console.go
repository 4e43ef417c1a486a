package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"

	"golog/internal/consensus"
	"golog/internal/console"
	"golog/internal/discovery"
	"golog/internal/lab"
	"golog/internal/telemetry"
)

// registerTimeout bounds how long a server in lab mode tries to tell its supervisor
// where it serves.
const registerTimeout = 5 * time.Second

// recordEvents starts the recorder of what this server sees happen, which the cluster
// console shows; it also hears gossip's events (gossipHandler).
func (a *Agent) recordEvents() error {
	a.recorder = console.NewRecorder(a.config.NodeName, a.dlog, a.logger)
	ctx, cancel := context.WithCancel(context.Background())
	a.recorderStop = cancel
	a.recorderDone = make(chan struct{})
	go func() {
		defer close(a.recorderDone)
		a.recorder.Run(ctx)
	}()
	return nil
}

// stopRecording stops the recorder, if it was started.
func (a *Agent) stopRecording() {
	if a.recorderStop != nil {
		a.recorderStop()
		<-a.recorderDone
	}
}

// gossipHandler returns what gossip's events go to: voters, which keeps the Raft
// configuration in step, and then the recorder.
func (a *Agent) gossipHandler() discovery.Handler {
	return teeHandler{a.voters, a.recorder}
}

// teeHandler passes each gossip event on to both of its handlers, in order; the first
// one's error is returned, the second's are not expected (a Recorder never fails).
type teeHandler struct{ first, second discovery.Handler }

func (t teeHandler) Join(name, addr string) error {
	return errors.Join(t.first.Join(name, addr), t.second.Join(name, addr))
}

func (t teeHandler) Leave(name string) error {
	return errors.Join(t.first.Leave(name), t.second.Leave(name))
}

func (t teeHandler) Failed(name string) error {
	return errors.Join(t.first.Failed(name), t.second.Failed(name))
}

// gossipTags returns the tags this server gossips: its RPC address, and the address
// of its HTTP API if it has one, where the others' consoles fetch its state.
func (a *Agent) gossipTags() map[string]string {
	tags := map[string]string{discovery.RPCAddrTag: a.rpcAddr}
	if addr := a.advertisedHTTPAddr(); addr != "" {
		tags[console.HTTPAddrTag] = addr
	}
	return tags
}

// advertisedHTTPAddr returns the address the others reach this server's HTTP API at:
// its listener's, or on a wildcard listener the host of the RPC address with the
// listener's port. Empty without HTTP.
func (a *Agent) advertisedHTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	tcp, ok := a.httpLn.Addr().(*net.TCPAddr)
	if !ok || (len(tcp.IP) > 0 && !tcp.IP.IsUnspecified()) {
		return a.httpLn.Addr().String()
	}
	host, _, err := net.SplitHostPort(a.rpcAddr)
	if err != nil {
		return a.httpLn.Addr().String()
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// httpHandler returns the handler of the HTTP address: the console under /ui/ and
// /api/ui/, the Prometheus metrics at /metrics, lab mode under /api/lab/ if it is on,
// and api, the HTTP JSON API, for everything else.
func (a *Agent) httpHandler(api http.Handler) http.Handler {
	var labView console.Lab
	if a.labMode != nil {
		labView = a.labMode
	}
	a.console = console.New(console.Config{
		Name:     a.config.NodeName,
		HTTPAddr: a.advertisedHTTPAddr(),
		RPCAddr:  a.rpcAddr,
		BindAddr: a.membership.BindAddr(),
		Log:      a.dlog,
		Recorder: a.recorder,
		Members:  func() []serf.Member { return a.membership.Members() },
		Lab:      labView,
		Logger:   a.logger,
	})
	mux := http.NewServeMux()
	mux.Handle(console.PagePath, a.console)
	mux.Handle(console.PagePath+"/", a.console)
	mux.Handle("/api/ui/", a.console)
	mux.Handle(telemetry.MetricsPath, a.metrics.Handler())
	if a.labMode != nil {
		mux.Handle(lab.PathPrefix, a.labMode)
	}
	mux.Handle("/", api)
	return mux
}

// setupLab turns lab mode on, if Config.Lab asks for it: it refuses unless every
// address is loopback, and puts a lab.Link in the way of this server's gossip and
// Raft traffic, which the lab can cut. It runs once the ports are open and before
// anything uses them.
func (a *Agent) setupLab() error {
	c := a.config
	if !c.Lab {
		return nil
	}
	if a.httpLn == nil {
		return errors.New("agent: lab mode needs the HTTP API (Config.HTTPAddr)")
	}
	if c.RaftDial != nil {
		return errors.New("agent: lab mode sets Config.RaftDial itself; leave it nil")
	}
	addrs := []string{
		"rpc-addr", a.rpcLn.Addr().String(), "advertised rpc address", a.rpcAddr,
		"bind-addr", c.BindAddr, "advertise-bind-addr", c.AdvertiseBindAddr,
		"http-addr", a.httpLn.Addr().String(), "lab-supervisor", c.LabSupervisor,
	}
	for _, join := range c.StartJoinAddrs {
		addrs = append(addrs, "join", join)
	}
	if err := lab.RequireLoopback(addrs...); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	link := lab.NewLink(consensus.RaftRPC)
	a.rpcLn = link.Listener(a.rpcLn)
	a.config.RaftDial = link.DialRaft
	tune := c.Tune
	a.config.Tune = func(sc *serf.Config) {
		if tune != nil {
			tune(sc)
		}
		tr, err := link.NewGossipTransport(c.BindAddr, a.logger)
		if err != nil {
			// discovery.New then binds its own transport and fails on the same
			// address, with the error a server without lab mode would give.
			a.logger.Error("lab: gossip transport", "err", err)
			return
		}
		sc.MemberlistConfig.Transport = tr // memberlist shuts it down
	}
	a.labMode = lab.NewMode(lab.ModeConfig{Name: c.NodeName, Link: link, Supervisor: c.LabSupervisor, Logger: a.logger})
	a.logger.Warn("lab mode is on: the lab can stop, kill and cut off this server", "supervisor", c.LabSupervisor)
	return nil
}

// registerLab tells the lab supervisor, if there is one, where this server serves.
// A failure is only logged: the server serves all the same.
func (a *Agent) registerLab() error {
	if a.labMode == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	err := a.labMode.Register(ctx, lab.Registration{
		Name: a.config.NodeName, PID: os.Getpid(),
		HTTPAddr: a.HTTPAddr(), RPCAddr: a.rpcAddr, BindAddr: a.BindAddr(),
	})
	if err != nil {
		a.logger.Warn("lab: could not register with the supervisor", "err", err)
	}
	return nil
}
