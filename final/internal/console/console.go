package console

import (
	"cmp"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/serf/serf"

	"golog/internal/consensus"
)

// HTTPAddrTag is the gossip tag under which a server gossips the address of its HTTP
// API, where the others fetch its ServerState.
const HTTPAddrTag = "http_addr"

// Paths the Console serves. The agent routes them to it.
const (
	PagePath    = "/ui"
	StatePath   = "/api/ui/state"
	ClusterPath = "/api/ui/cluster"
	EventsPath  = "/api/ui/events"
)

// Bounds of what a Console does for its page.
const (
	// MaxRecords is how many of the newest records a ClusterState shows.
	MaxRecords = 20
	// MaxValueBytes is how much of a record's value it shows.
	MaxValueBytes = 256
	// streamInterval is how often the stream gathers and sends the cluster's state.
	streamInterval = 250 * time.Millisecond
	// peerTimeout bounds how long gathering waits for the other servers: a server
	// that is paused or cut off shows as down rather than holding the page back.
	peerTimeout = 500 * time.Millisecond
	// maxStreams bounds the open streams of one server; more get 503.
	maxStreams = 32
	// maxStateBytes bounds a peer's ServerState document.
	maxStateBytes = 1 << 20
)

//go:embed static
var static embed.FS

// Lab is what lab mode tells the console; nil when lab mode is off.
type Lab interface {
	// Cut reports whether this server is cut off from the others.
	Cut() bool
	// Processes returns the lab supervisor's view of each server's process, by name,
	// or ErrNoSupervisor when lab mode runs without one.
	Processes(ctx context.Context) (map[string]LabProcess, error)
}

// ErrNoSupervisor is returned by Lab.Processes when lab mode has no supervisor.
var ErrNoSupervisor = errors.New("lab mode without a supervisor: servers can be cut off, not stopped")

// Config configures a Console.
type Config struct {
	// Name, HTTPAddr, RPCAddr and BindAddr are this server's name and addresses.
	Name, HTTPAddr, RPCAddr, BindAddr string
	// Log is this server's replicated log. Required.
	Log Log
	// Recorder holds this server's events. Required.
	Recorder *Recorder
	// Members returns the gossip members as this server sees them
	// (discovery.Membership.Members). Required.
	Members func() []serf.Member
	// Lab is set in lab mode only.
	Lab Lab
	// Client fetches the other servers' states; nil means a client of its own.
	Client *http.Client
	// Logger receives Debug lines about peers that did not answer. Nil discards.
	Logger *slog.Logger
}

// A Console serves the cluster console: the page, this server's state, and the whole
// cluster's state as a JSON document and as a stream of server-sent events. It is
// read-only: nothing it serves changes the cluster. Safe for concurrent use.
type Console struct {
	config  Config
	client  *http.Client
	logger  *slog.Logger
	files   http.Handler
	streams atomic.Int32
	done    chan struct{} // closed by Close: the streams end
	close   sync.Once
}

// New returns the Console of config.
func New(config Config) *Console {
	c := &Console{config: config, client: config.Client, logger: config.Logger, done: make(chan struct{})}
	if c.client == nil {
		// No proxy: the other servers are reached directly, whatever the environment says.
		c.client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree has a static folder: see the go:embed line
	}
	c.files = http.StripPrefix(PagePath+"/", http.FileServerFS(sub))
	return c
}

// Close ends the open streams, so that an HTTP server's Shutdown need not wait for
// them. Register it with http.Server.RegisterOnShutdown. Idempotent.
func (c *Console) Close() { c.close.Do(func() { close(c.done) }) }

// ServeHTTP serves the page under PagePath and the JSON documents under /api/ui/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "the console is read-only: use GET"})
		return
	}
	switch r.URL.Path {
	case PagePath:
		http.Redirect(w, r, PagePath+"/", http.StatusMovedPermanently)
	case StatePath:
		writeJSON(w, http.StatusOK, c.Self())
	case ClusterPath:
		writeJSON(w, http.StatusOK, c.Cluster(r.Context()))
	case EventsPath:
		c.stream(w, r)
	default:
		if strings.HasPrefix(r.URL.Path, PagePath+"/") {
			setPageHeaders(w)
			c.files.ServeHTTP(w, r)
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no such path %q", r.URL.Path)})
	}
}

// setPageHeaders forbids the page anything but its own files and its own server:
// no inline script, no other origin, no framing.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// Self returns this server's state, with its events.
func (c *Console) Self() ServerState {
	st := c.config.Log.Status()
	s := ServerState{
		Name:          c.config.Name,
		HTTPAddr:      c.config.HTTPAddr,
		RPCAddr:       c.config.RPCAddr,
		BindAddr:      c.config.BindAddr,
		Role:          roleOf(st.State),
		Term:          st.Term,
		Leader:        st.LeaderID,
		LastIndex:     st.LastIndex,
		CommitIndex:   st.CommitIndex,
		AppliedIndex:  st.AppliedIndex,
		SnapshotIndex: st.SnapshotIndex,
		LowestOffset:  st.LowestOffset,
		NextOffset:    st.NextOffset,
		Ready:         st.Ready,
		Time:          time.Now(),
		Events:        c.config.Recorder.Events(),
	}
	if !st.LastContact.IsZero() {
		ms := time.Since(st.LastContact).Milliseconds()
		s.LastContactMillis = &ms
	}
	if term, addr, err := c.config.Log.LastVote(); err == nil && term > 0 {
		s.Vote = &Vote{Term: term, For: nameOf(c.config.Log, addr)}
	}
	if c.config.Lab != nil {
		s.Cut = c.config.Lab.Cut()
	}
	return s
}

// peer is another server to ask for its state.
type peer struct {
	row  ServerRow
	addr string // its HTTP address; empty if unknown
}

// Cluster gathers the state of every server: its own, and each other server's over
// HTTP, waiting at most peerTimeout for them.
func (c *Console) Cluster(ctx context.Context) ClusterState {
	self := c.Self()
	peers := c.peers()
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	var wg sync.WaitGroup
	states := make([]*ServerState, len(peers))
	for i, p := range peers {
		if p.addr == "" {
			peers[i].row.Error = "its HTTP address is unknown: gossip does not know it, or it serves no HTTP"
			continue
		}
		wg.Go(func() {
			st, err := c.fetch(ctx, p.addr)
			if err != nil {
				peers[i].row.Error = err.Error()
				c.logger.Debug("console: a server did not answer", "peer", p.row.Name, "err", err)
				return
			}
			states[i] = st
		})
	}
	wg.Wait()

	rows := []ServerRow{{
		Name: self.Name, HTTPAddr: self.HTTPAddr, RPCAddr: self.RPCAddr, BindAddr: self.BindAddr,
		Up: true, Gossip: "alive", Voter: c.isVoter(self.Name), State: &self,
	}}
	for i, p := range peers {
		p.row.State = states[i]
		p.row.Up = states[i] != nil
		rows = append(rows, p.row)
	}
	return c.assemble(ctx, rows)
}

// peers returns the other servers, from gossip and from the Raft configuration.
func (c *Console) peers() []peer {
	byName := map[string]*peer{}
	for _, m := range c.config.Members() {
		if m.Name == c.config.Name {
			continue
		}
		byName[m.Name] = &peer{
			row: ServerRow{
				Name: m.Name, HTTPAddr: m.Tags[HTTPAddrTag], RPCAddr: m.Tags["rpc_addr"],
				BindAddr: fmt.Sprintf("%s:%d", m.Addr, m.Port), Gossip: m.Status.String(),
			},
			addr: m.Tags[HTTPAddrTag],
		}
	}
	servers, err := c.config.Log.GetServers()
	if err == nil {
		for _, s := range servers {
			if s.ID == c.config.Name {
				continue
			}
			p, ok := byName[s.ID]
			if !ok {
				p = &peer{row: ServerRow{Name: s.ID, RPCAddr: s.RPCAddr, Gossip: "unknown"}}
				byName[s.ID] = p
			}
			p.row.Voter = true
		}
	}
	out := make([]peer, 0, len(byName))
	for _, p := range byName {
		out = append(out, *p)
	}
	return out
}

// isVoter reports whether the server name is in the Raft configuration this server
// knows.
func (c *Console) isVoter(name string) bool {
	servers, err := c.config.Log.GetServers()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(servers, func(s *consensus.Server) bool { return s.ID == name })
}

// fetch asks the server at httpAddr for its ServerState.
func (c *Console) fetch(ctx context.Context, httpAddr string) (*ServerState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+StatePath, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer from %s within %s", httpAddr, peerTimeout)
		}
		return nil, fmt.Errorf("no answer from %s: %w", httpAddr, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", httpAddr, res.Status)
	}
	var st ServerState
	if err := json.NewDecoder(io.LimitReader(res.Body, maxStateBytes)).Decode(&st); err != nil {
		return nil, fmt.Errorf("%s answered no state: %w", httpAddr, err)
	}
	return &st, nil
}

// assemble completes a ClusterState from the rows of every server: who
// leads, each one's lag, the events merged, the newest records, and lab mode's view.
func (c *Console) assemble(ctx context.Context, rows []ServerRow) ClusterState {
	// By name, so that a server keeps its place on the page whichever server serves it.
	slices.SortFunc(rows, func(a, b ServerRow) int { return cmp.Compare(a.Name, b.Name) })
	cs := ClusterState{ServedBy: c.config.Name, Time: time.Now(), Servers: rows, Events: []Event{}}
	cs.Leader, cs.Term = leaderOf(rows)
	var leader *ServerState
	for _, r := range rows {
		if r.State != nil && r.Name == cs.Leader {
			leader = r.State
		}
	}
	for i := range rows {
		st := rows[i].State
		if st == nil {
			continue
		}
		cs.Events = append(cs.Events, st.Events...)
		copied := *st
		copied.Events = nil
		rows[i].State = &copied
		if leader != nil {
			rows[i].LagEntries = ptr(saturatingSub(leader.LastIndex, st.AppliedIndex))
			rows[i].LagRecords = ptr(saturatingSub(leader.NextOffset, st.NextOffset))
		}
	}
	slices.SortStableFunc(cs.Events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	if over := len(cs.Events) - MaxEvents; over > 0 {
		cs.Events = cs.Events[over:]
	}
	cs.Records = c.records(ctx)
	if c.config.Lab != nil {
		cs.Lab = &LabState{Supervisor: true}
		procs, err := c.config.Lab.Processes(ctx)
		if err != nil {
			cs.Lab.Supervisor = !errors.Is(err, ErrNoSupervisor)
			cs.Lab.Error = err.Error()
		}
		for i := range rows {
			if p, ok := procs[rows[i].Name]; ok {
				rows[i].Process = &p
			}
		}
	}
	return cs
}

// leaderOf returns the leader of the highest term among the rows that say they lead,
// and that term.
func leaderOf(rows []ServerRow) (string, uint64) {
	var name string
	var term uint64
	for _, r := range rows {
		if r.State != nil && r.State.Role == "leader" && r.State.Term >= term {
			name, term = r.Name, r.State.Term
		}
	}
	return name, term
}

// records returns the newest records of this server's log, oldest first; none while it
// catches up.
func (c *Console) records(ctx context.Context) []Record {
	st := c.config.Log.Status()
	out := []Record{}
	if !st.Ready || st.NextOffset == st.LowestOffset {
		return out
	}
	from := st.LowestOffset
	if st.NextOffset-from > MaxRecords {
		from = st.NextOffset - MaxRecords
	}
	for off := from; off < st.NextOffset; off++ {
		rec, err := c.config.Log.Read(ctx, off, consensus.Local)
		if err != nil {
			continue // removed by retention meanwhile
		}
		out = append(out, recordOf(rec.Offset, rec.Value))
	}
	return out
}

// recordOf returns the Record of value at offset: text if it is UTF-8, base64
// otherwise, cut to MaxValueBytes.
func recordOf(offset uint64, value []byte) Record {
	r := Record{Offset: offset, Encoding: "text"}
	if len(value) > MaxValueBytes {
		value, r.Truncated = value[:MaxValueBytes], true
		for !utf8.Valid(value) && len(value) > MaxValueBytes-utf8.UTFMax {
			value = value[:len(value)-1] // do not cut a character in two
		}
	}
	if !utf8.Valid(value) {
		r.Encoding = "base64"
		r.Value = base64.StdEncoding.EncodeToString(value)
		return r
	}
	r.Value = string(value)
	return r
}

// stream sends the cluster's state as server-sent events, one "state" event every
// streamInterval, until the client goes, or Close.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "streaming is not supported here"})
		return
	}
	if c.streams.Add(1) > maxStreams {
		c.streams.Add(-1)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "too many console streams are open"})
		return
	}
	defer c.streams.Add(-1)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	// A stream that breaks is opened again by the browser after this long.
	if _, err := io.WriteString(w, "retry: 1000\n\n"); err != nil {
		return
	}
	ticker := time.NewTicker(streamInterval)
	defer ticker.Stop()
	for {
		if err := writeEvent(w, "state", c.Cluster(r.Context())); err != nil {
			return // the client went
		}
		flusher.Flush()
		select {
		case <-ticker.C:
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		}
	}
}

// writeEvent writes one server-sent event: its name and v as JSON on one data line
// (encoding/json escapes newlines inside strings).
func writeEvent(w io.Writer, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	return err
}

// writeJSON writes v as the JSON body of a response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: nothing left to tell the client
}

func ptr[T any](v T) *T { return &v }

func saturatingSub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
