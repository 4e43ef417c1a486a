package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Paths of the supervisor's own HTTP API.
const (
	supervisorNodesPath    = "/nodes"    // GET: []Node
	supervisorRegisterPath = "/register" // POST Registration: an agent tells where it serves
)

// Process states, as Node.State and console.LabProcess.State report them.
const (
	StateStarting = "starting" // started, not serving yet
	StateRunning  = "running"
	StatePaused   = "paused"
	StateStopping = "stopping" // sent SIGTERM, not exited yet
	StateStopped  = "stopped"  // exited after SIGTERM
	StateKilled   = "killed"   // exited after SIGKILL
	StateExited   = "exited"   // exited by itself
)

// stopTimeout is how long Close waits for a server to stop gracefully before it kills
// it.
const stopTimeout = 20 * time.Second

// Node is one server of the lab, as GET /nodes of the supervisor answers.
type Node struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	PID      int    `json:"pid,omitempty"`
	HTTPAddr string `json:"http_addr"`
	RPCAddr  string `json:"rpc_addr"`
	BindAddr string `json:"bind_addr"`
	Cut      bool   `json:"cut"`
	// Exit is how its last process ended, if it has.
	Exit string `json:"exit,omitempty"`
}

// Registration is what an agent in lab mode tells its supervisor once it serves.
type Registration struct {
	Name     string `json:"name"`
	PID      int    `json:"pid"`
	HTTPAddr string `json:"http_addr"`
	RPCAddr  string `json:"rpc_addr"`
	BindAddr string `json:"bind_addr"`
}

// SupervisorConfig configures a Supervisor.
type SupervisorConfig struct {
	// Nodes is how many servers to run, named node-1 to node-N.
	Nodes int
	// Host is the loopback address every server listens on.
	Host string
	// HTTPPort, RPCPort and GossipPort are node-1's ports; node-i's are HTTPPort+i-1,
	// RPCPort+10(i-1) and GossipPort+10(i-1), as run.sh --nodes gives them. A port of 0
	// lets each server pick a free one at its first start; it keeps it when restarted.
	HTTPPort, RPCPort, GossipPort int
	// DataDir holds each server's data, in DataDir/node-i.
	DataDir string
	// Command is the golog executable; AgentArgs are passed to every golog agent after
	// the ones the supervisor sets.
	Command   string
	AgentArgs []string
	// Env is the servers' environment; nil means the supervisor's.
	Env []string
	// Output receives the servers' logs, each line prefixed with the server's name.
	// Nil discards them.
	Output io.Writer
	// StartTimeout bounds how long Start waits for each server to serve.
	StartTimeout time.Duration
	// Logger receives the supervisor's own lines. Nil discards.
	Logger *slog.Logger
}

// A Supervisor runs the servers of a local lab cluster as child processes, serves an
// HTTP API on a loopback address through which the agents in lab mode (and so the
// console's buttons) stop, kill, pause, resume, restart and cut off servers, and stops
// them all when closed. Safe for concurrent use.
type Supervisor struct {
	config SupervisorConfig
	ln     net.Listener
	srv    *http.Server
	served chan error
	client *http.Client
	logger *slog.Logger
	output *lockedWriter

	mu    sync.Mutex
	nodes []*node // guarded by mu, and so are the fields of each node
}

// node is one server; its fields are guarded by Supervisor.mu.
type node struct {
	name                        string
	dataDir                     string
	httpAddr, rpcAddr, bindAddr string // where it serves, once it said so; its flags before
	registered                  bool
	cmd                         *exec.Cmd     // nil before the first start
	state                       string        // one of the State constants
	expect                      string        // the state it will be in once it exits
	exit                        string        // how its last process ended
	served                      chan struct{} // closed when the current process registers
	exited                      chan struct{} // closed when the current process has exited
	cut                         bool
}

// NewSupervisor returns a supervisor that will serve its API on ln, a loopback
// listener; it closes ln if it fails. It refuses (ErrNotLoopback) a listener or a Host
// off loopback.
func NewSupervisor(config SupervisorConfig, ln net.Listener) (*Supervisor, error) {
	if err := RequireLoopback("supervisor address", ln.Addr().String(), "host", config.Host); err != nil {
		return nil, errors.Join(err, ln.Close())
	}
	if config.Nodes < 1 {
		return nil, errors.Join(errors.New("lab: at least one server is needed"), ln.Close())
	}
	if config.Logger == nil {
		config.Logger = slog.New(slog.DiscardHandler)
	}
	if config.Output == nil {
		config.Output = io.Discard
	}
	s := &Supervisor{
		config: config,
		ln:     ln,
		served: make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: supervisorTimeout},
		logger: config.Logger,
		output: &lockedWriter{w: config.Output},
	}
	for i := 1; i <= config.Nodes; i++ {
		port := func(base, step int) string {
			if base == 0 {
				return net.JoinHostPort(config.Host, "0")
			}
			return net.JoinHostPort(config.Host, strconv.Itoa(base+step*(i-1)))
		}
		s.nodes = append(s.nodes, &node{
			name:     fmt.Sprintf("node-%d", i),
			dataDir:  filepath.Join(config.DataDir, fmt.Sprintf("node-%d", i)),
			httpAddr: port(config.HTTPPort, 1),
			rpcAddr:  port(config.RPCPort, 10),
			bindAddr: port(config.GossipPort, 10),
			state:    StateStopped,
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+supervisorNodesPath, s.serveNodes)
	mux.HandleFunc("POST "+supervisorRegisterPath, s.guard(s.register))
	mux.HandleFunc("POST "+supervisorNodesPath+"/{name}/{action}", s.guard(s.act))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Addr returns the address of the supervisor's API.
func (s *Supervisor) Addr() string { return s.ln.Addr().String() }

// Start serves the API and starts the servers one after the other, each joining the
// ones before it, and waits until each serves. If one does not, Start returns an error;
// call Close all the same.
func (s *Supervisor) Start(ctx context.Context) error {
	go func() { s.served <- s.srv.Serve(s.ln) }()
	for _, n := range s.nodes {
		s.mu.Lock()
		err := s.start(n)
		served, exited := n.served, n.exited
		s.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-served:
		case <-exited:
			return fmt.Errorf("lab: %s exited before it served (its log says why)", n.name)
		case <-time.After(s.config.StartTimeout):
			return fmt.Errorf("lab: %s did not serve within %s", n.name, s.config.StartTimeout)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// Nodes returns the servers, in order.
func (s *Supervisor) Nodes() []Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Node, len(s.nodes))
	for i, n := range s.nodes {
		out[i] = Node{Name: n.name, State: n.state, HTTPAddr: n.httpAddr, RPCAddr: n.rpcAddr,
			BindAddr: n.bindAddr, Cut: n.cut, Exit: n.exit}
		if n.cmd != nil && n.state != StateStopped && n.state != StateKilled && n.state != StateExited {
			out[i].PID = n.cmd.Process.Pid
		}
	}
	return out
}

// start starts n's process; the caller holds mu and n is not running.
func (s *Supervisor) start(n *node) error {
	args := []string{"agent", "--node-name", n.name, "--data-dir", n.dataDir,
		"--http-addr", n.httpAddr, "--rpc-addr", n.rpcAddr, "--bind-addr", n.bindAddr,
		"--lab", "--lab-supervisor", s.Addr()}
	var join []string
	for _, other := range s.nodes {
		if other != n && other.registered && other.state != StateStopped && other.state != StateKilled &&
			other.state != StateExited {
			join = append(join, other.bindAddr)
		}
	}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	args = append(args, s.config.AgentArgs...)
	cmd := exec.Command(s.config.Command, args...)
	cmd.Env = s.config.Env
	cmd.Stdout = &prefixWriter{prefix: n.name + ": ", out: s.output}
	cmd.Stderr = cmd.Stdout
	// A process group of its own: Ctrl-C in the terminal reaches the supervisor only,
	// which stops the servers gracefully.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("lab: start %s: %w", n.name, err)
	}
	n.cmd, n.state, n.expect, n.exit, n.cut = cmd, StateStarting, StateExited, "", false
	n.served, n.exited = make(chan struct{}), make(chan struct{})
	s.logger.Info("lab: started", "peer", n.name, "pid", cmd.Process.Pid)
	go s.wait(n, cmd, n.exited)
	return nil
}

// wait waits for cmd, n's process, to exit, and records how.
func (s *Supervisor) wait(n *node, cmd *exec.Cmd, exited chan struct{}) {
	err := cmd.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.cmd == cmd {
		n.state = n.expect
		n.exit = "exit status 0"
		if err != nil {
			n.exit = err.Error()
		}
		s.logger.Info("lab: exited", "peer", n.name, "state", n.state, "exit", n.exit)
	}
	close(exited)
}

// serveNodes answers GET /nodes.
func (s *Supervisor) serveNodes(w http.ResponseWriter, r *http.Request) {
	if !IsLoopback(r.Host) {
		writeError(w, http.StatusForbidden, "served to loopback hosts only")
		return
	}
	writeJSON(w, http.StatusOK, s.Nodes())
}

// guard refuses the requests checkRequest refuses.
func (s *Supervisor) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if status, reason := checkRequest(r); status != 0 {
			writeError(w, status, reason)
			return
		}
		h(w, r)
	}
}

// register records where a server serves.
func (s *Supervisor) register(w http.ResponseWriter, r *http.Request) {
	var reg Registration
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&reg); err != nil {
		writeError(w, http.StatusBadRequest, "want a registration: "+err.Error())
		return
	}
	if err := RequireLoopback("http_addr", reg.HTTPAddr, "rpc_addr", reg.RPCAddr, "bind_addr", reg.BindAddr); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.node(reg.Name)
	if n == nil || n.cmd == nil || n.cmd.Process.Pid != reg.PID {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no server %q with process %d was started here", reg.Name, reg.PID))
		return
	}
	n.httpAddr, n.rpcAddr, n.bindAddr, n.registered = reg.HTTPAddr, reg.RPCAddr, reg.BindAddr, true
	if n.state == StateStarting {
		n.state = StateRunning
	}
	select {
	case <-n.served:
	default:
		close(n.served)
	}
	s.logger.Info("lab: serving", "peer", n.name, "http_addr", n.httpAddr)
	writeJSON(w, http.StatusOK, map[string]string{"name": n.name})
}

// node returns the server called name, or nil; the caller holds mu.
func (s *Supervisor) node(name string) *node {
	i := slices.IndexFunc(s.nodes, func(n *node) bool { return n.name == name })
	if i < 0 {
		return nil
	}
	return s.nodes[i]
}

// act does an action on a server.
func (s *Supervisor) act(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	s.mu.Lock()
	n := s.node(name)
	if n == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, fmt.Sprintf("no server %q in this lab", name))
		return
	}
	var status int
	var err error
	switch action {
	case ActionCut, ActionHeal:
		status, err = s.link(r.Context(), n, action == ActionCut) // unlocks mu
	default:
		status, err = s.signal(n, action)
		s.mu.Unlock()
	}
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	s.logger.Info("lab: done", "peer", name, "action", action)
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "action": action})
}

// signal does a process action on n: the caller holds mu.
func (s *Supervisor) signal(n *node, action string) (int, error) {
	alive := n.cmd != nil && (n.state == StateStarting || n.state == StateRunning || n.state == StatePaused ||
		n.state == StateStopping)
	if action == ActionRestart {
		if alive {
			return http.StatusConflict, fmt.Errorf("%s is %s: stop or kill it first", n.name, n.state)
		}
		if err := s.start(n); err != nil {
			return http.StatusInternalServerError, err
		}
		return 0, nil
	}
	if !alive {
		return http.StatusConflict, fmt.Errorf("%s is not running (%s)", n.name, n.state)
	}
	p := n.cmd.Process
	var err error
	switch action {
	case ActionStop:
		n.expect, n.state = StateStopped, StateStopping
		err = p.Signal(syscall.SIGTERM)
		if err == nil {
			err = p.Signal(syscall.SIGCONT) // a paused process cannot stop until it runs
		}
	case ActionKill:
		n.expect = StateKilled
		err = p.Signal(syscall.SIGKILL)
	case ActionPause:
		if n.state != StateRunning {
			return http.StatusConflict, fmt.Errorf("%s is %s, not running", n.name, n.state)
		}
		n.state = StatePaused
		err = p.Signal(syscall.SIGSTOP)
	case ActionResume:
		if n.state != StatePaused {
			return http.StatusConflict, fmt.Errorf("%s is %s, not paused", n.name, n.state)
		}
		n.state = StateRunning
		err = p.Signal(syscall.SIGCONT)
	default:
		return http.StatusNotFound, fmt.Errorf("no action %q: use stop, kill, pause, resume, restart, cut or heal", action)
	}
	if err != nil {
		return http.StatusInternalServerError, fmt.Errorf("signal %s: %w", n.name, err)
	}
	return 0, nil
}

// link cuts n off or heals it, through its agent's lab mode. The caller holds mu;
// link unlocks it before it calls the agent.
func (s *Supervisor) link(ctx context.Context, n *node, cut bool) (int, error) {
	addr, running := n.httpAddr, n.registered && n.state == StateRunning
	s.mu.Unlock()
	if !running {
		return http.StatusConflict, fmt.Errorf("%s is not running: only a running server can be cut off or healed", n.name)
	}
	body := []byte(`{"cut":false}`)
	if cut {
		body = []byte(`{"cut":true}`)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+linkPath, bytes.NewReader(body))
	if err != nil {
		return http.StatusInternalServerError, err
	}
	req.Header.Set(HeaderName, "1")
	res, err := s.client.Do(req)
	if err != nil {
		return http.StatusBadGateway, fmt.Errorf("%s: %w", n.name, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return http.StatusBadGateway, fmt.Errorf("%s answered %s: %s", n.name, res.Status, bytes.TrimSpace(msg))
	}
	s.mu.Lock()
	n.cut = cut
	s.mu.Unlock()
	return 0, nil
}

// Close stops every server that runs, gracefully (SIGTERM), killing any that has not
// stopped within stopTimeout, and stops the API. It returns once they have all exited.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	var waits []<-chan struct{}
	var procs []*exec.Cmd
	for _, n := range s.nodes {
		if n.cmd == nil || n.state == StateStopped || n.state == StateKilled || n.state == StateExited {
			continue
		}
		n.expect, n.state = StateStopped, StateStopping
		_ = n.cmd.Process.Signal(syscall.SIGTERM) // it may have just exited
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
		waits, procs = append(waits, n.exited), append(procs, n.cmd)
	}
	s.mu.Unlock()
	var errs []error
	deadline := time.After(stopTimeout)
	for i, exited := range waits {
		select {
		case <-exited:
		case <-deadline:
			errs = append(errs, fmt.Errorf("lab: a server (pid %d) did not stop within %s: killed", procs[i].Process.Pid, stopTimeout))
			_ = procs[i].Process.Kill()
			<-exited
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	select {
	case err := <-s.served:
		if !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	default: // Start never served
		_ = s.ln.Close()
	}
	return errors.Join(errs...)
}

// lockedWriter serializes the writes of the servers' output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter writes each complete line written to it to out, with prefix; a line
// split over writes waits for its end. One process writes to it at a time (exec
// copies its output in one goroutine).
type prefixWriter struct {
	prefix string
	out    io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := append([]byte(p.prefix), p.buf[:i+1]...)
		p.buf = p.buf[i+1:]
		if _, err := p.out.Write(line); err != nil {
			return len(b), err
		}
	}
}
