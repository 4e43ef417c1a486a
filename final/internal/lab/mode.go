package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"golog/internal/console"
)

// Paths of lab mode on an agent's HTTP address.
const (
	// PathPrefix is where the agent routes lab mode's requests.
	PathPrefix = "/api/lab/"
	// linkPath cuts this server off, or heals it: POST {"cut": true|false}.
	linkPath = "/api/lab/link"
	// nodesPath + NAME/ACTION asks the supervisor to act on a server: POST.
	nodesPath = "/api/lab/nodes/"
)

// Actions on a server, for the page's buttons and the supervisor.
const (
	ActionStop    = "stop"    // SIGTERM: a graceful stop; the server leaves the cluster
	ActionKill    = "kill"    // SIGKILL: a crash
	ActionPause   = "pause"   // SIGSTOP: a server that hangs, as in a long GC pause
	ActionResume  = "resume"  // SIGCONT
	ActionRestart = "restart" // start a server that is down again, on the same data and addresses
	ActionCut     = "cut"     // cut it off from the others (Link)
	ActionHeal    = "heal"    // undo cut
)

// supervisorTimeout bounds a request to the supervisor.
const supervisorTimeout = 2 * time.Second

// ModeConfig configures lab mode on one agent.
type ModeConfig struct {
	// Name is this server's name.
	Name string
	// Link is this server's switch to the others. Required.
	Link *Link
	// Supervisor is the loopback "host:port" of the lab supervisor (golog lab) that
	// started this server; empty when none did: then only cut and heal work.
	Supervisor string
	// Logger receives a line per action. Nil discards.
	Logger *slog.Logger
}

// Mode is lab mode on one agent: it serves the lab's requests under PathPrefix and
// tells the console what the lab knows (console.Lab). Safe for concurrent use.
type Mode struct {
	config ModeConfig
	client *http.Client
	logger *slog.Logger
	mux    *http.ServeMux
}

var _ console.Lab = (*Mode)(nil)

// NewMode returns the lab mode of config. It does not check addresses: the agent
// refuses lab mode off loopback (RequireLoopback) before it gets here.
func NewMode(config ModeConfig) *Mode {
	m := &Mode{
		config: config,
		client: &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: supervisorTimeout},
		logger: config.Logger,
		mux:    http.NewServeMux(),
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	m.mux.HandleFunc(linkPath, m.link)
	m.mux.HandleFunc(nodesPath+"{name}/{action}", m.act)
	return m
}

// ServeHTTP serves lab mode's requests, after checkRequest.
func (m *Mode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if status, reason := checkRequest(r); status != 0 {
		writeError(w, status, reason)
		return
	}
	m.mux.ServeHTTP(w, r)
}

// Cut reports whether this server is cut off.
func (m *Mode) Cut() bool { return m.config.Link.IsCut() }

// linkRequest is the body of POST /api/lab/link.
type linkRequest struct {
	Cut *bool `json:"cut"`
}

// link cuts this server off, or heals it.
func (m *Mode) link(w http.ResponseWriter, r *http.Request) {
	var req linkRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1024)).Decode(&req); err != nil || req.Cut == nil {
		writeError(w, http.StatusBadRequest, `want {"cut": true} or {"cut": false}`)
		return
	}
	if *req.Cut {
		m.config.Link.Cut()
		m.logger.Warn("lab: this server is cut off from the others")
	} else {
		m.config.Link.Heal()
		m.logger.Warn("lab: this server is back in touch with the others")
	}
	writeJSON(w, http.StatusOK, map[string]bool{"cut": *req.Cut})
}

// act passes an action on a server on to the supervisor, and its answer back.
func (m *Mode) act(w http.ResponseWriter, r *http.Request) {
	if m.config.Supervisor == "" {
		writeError(w, http.StatusConflict, "this server runs in lab mode without a supervisor (golog lab): "+
			"it cannot stop, kill, pause or restart servers")
		return
	}
	name, action := r.PathValue("name"), r.PathValue("action")
	m.logger.Info("lab: asking the supervisor", "peer", name, "action", action)
	res, err := m.post(r.Context(), "/nodes/"+name+"/"+action, nil)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	defer res.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(res.Body, 1<<20))
}

// Processes asks the supervisor for its servers' processes (console.Lab).
func (m *Mode) Processes(ctx context.Context) (map[string]console.LabProcess, error) {
	if m.config.Supervisor == "" {
		return nil, console.ErrNoSupervisor
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.config.Supervisor+supervisorNodesPath, nil)
	if err != nil {
		return nil, err
	}
	res, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lab supervisor at %s: %w", m.config.Supervisor, err)
	}
	defer res.Body.Close()
	var nodes []Node
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&nodes); err != nil {
		return nil, fmt.Errorf("lab supervisor at %s: %w", m.config.Supervisor, err)
	}
	out := make(map[string]console.LabProcess, len(nodes))
	for _, n := range nodes {
		out[n.Name] = console.LabProcess{State: n.State, PID: n.PID}
	}
	return out, nil
}

// Register tells the supervisor, if there is one, that this server serves, at which
// addresses and with which process ID: it restarts the server on those addresses.
func (m *Mode) Register(ctx context.Context, reg Registration) error {
	if m.config.Supervisor == "" {
		return nil
	}
	body, err := json.Marshal(reg)
	if err != nil {
		return err
	}
	res, err := m.post(ctx, supervisorRegisterPath, body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("lab supervisor refused the registration: %s %s", res.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// post sends a lab request to the supervisor.
func (m *Mode) post(ctx context.Context, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+m.config.Supervisor+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set(HeaderName, "1")
	req.Header.Set("Content-Type", "application/json")
	res, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lab supervisor at %s: %w", m.config.Supervisor, err)
	}
	return res, nil
}

// writeJSON writes v as the JSON body of a response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: nothing left to tell the client
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
