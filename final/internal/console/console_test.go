package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"

	"golog/internal/consensus"
	"golog/internal/console"
	"golog/internal/storage"
)

// fakeLog is a console.Log whose state the test sets.
type fakeLog struct {
	mu           sync.Mutex
	status       consensus.Status
	servers      []*consensus.Server
	voteTerm     uint64
	voteAddr     string
	records      map[uint64][]byte
	observations chan raft.Observation // what Observe was given
}

func (f *fakeLog) Status() consensus.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeLog) set(change func(*fakeLog)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeLog) GetServers() ([]*consensus.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.servers, nil
}

func (f *fakeLog) LastVote() (uint64, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.voteTerm, f.voteAddr, nil
}

func (f *fakeLog) Observe(ch chan raft.Observation) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observations = ch
	return func() {}
}

func (f *fakeLog) observe(t *testing.T, data any) {
	t.Helper()
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.observations != nil
	}, 5*time.Second, time.Millisecond)
	f.observations <- raft.Observation{Data: data}
}

func (f *fakeLog) Read(_ context.Context, off uint64, _ consensus.Consistency) (*storage.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.records[off]
	if !ok {
		return nil, storage.ErrOffsetOutOfRange{Offset: off}
	}
	return &storage.Record{Offset: off, Value: v}, nil
}

var _ console.Log = (*fakeLog)(nil)

// followerLog is the log of a follower, "self", of a cluster of three.
func followerLog() *fakeLog {
	return &fakeLog{
		status: consensus.Status{
			ID: "self", State: "Follower", Term: 5, LeaderID: "peer-a", LeaderAddr: "127.0.0.1:8410",
			LastIndex: 9, CommitIndex: 9, AppliedIndex: 8, LowestOffset: 0, NextOffset: 3, Ready: true,
			LastContact: time.Now(), SnapshotIndex: 4,
		},
		servers: []*consensus.Server{
			{ID: "self", RPCAddr: "127.0.0.1:8400"},
			{ID: "peer-a", RPCAddr: "127.0.0.1:8410", IsLeader: true},
			{ID: "peer-c", RPCAddr: "127.0.0.1:8430"},
		},
		voteTerm: 5, voteAddr: "127.0.0.1:8410",
		records: map[uint64][]byte{0: []byte("zero"), 1: {0xff, 0x00}, 2: []byte(strings.Repeat("é", 200))},
	}
}

// TestServerStateJSON pins the field names and values of GET /api/ui/state: the page
// and any script read them.
func TestServerStateJSON(t *testing.T) {
	log := followerLog()
	c := console.New(console.Config{
		Name: "self", HTTPAddr: "127.0.0.1:4001", RPCAddr: "127.0.0.1:8400", BindAddr: "127.0.0.1:8401",
		Log: log, Recorder: console.NewRecorder("self", log, nil), Members: func() []serf.Member { return nil },
	})
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)

	res, err := http.Get(srv.URL + console.StatePath)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var got map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&got))
	_, err = time.Parse(time.RFC3339Nano, got["time"].(string))
	require.NoError(t, err, "time")
	require.Less(t, got["last_contact_ms"].(float64), float64(time.Minute.Milliseconds()))
	delete(got, "time")
	delete(got, "last_contact_ms")
	b, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"name": "self", "http_addr": "127.0.0.1:4001", "rpc_addr": "127.0.0.1:8400", "bind_addr": "127.0.0.1:8401",
		"role": "follower", "term": 5, "leader": "peer-a",
		"last_index": 9, "commit_index": 9, "applied_index": 8, "snapshot_index": 4,
		"lowest_offset": 0, "next_offset": 3, "ready": true,
		"vote": {"term": 5, "for": "peer-a"}
	}`, string(b))
}

// peerServer serves a ServerState at /api/ui/state as a peer would, or fails with
// status if it is not 200.
func peerServer(t *testing.T, st console.ServerState, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, console.StatePath, r.URL.Path)
		if status != http.StatusOK {
			http.Error(w, "broken", status)
			return
		}
		require.NoError(t, json.NewEncoder(w).Encode(st))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// member is a gossip member with an HTTP address tag (none if empty).
func member(name, httpAddr string, status serf.MemberStatus) serf.Member {
	tags := map[string]string{"rpc_addr": "127.0.0.1:1"}
	if httpAddr != "" {
		tags[console.HTTPAddrTag] = httpAddr
	}
	return serf.Member{Name: name, Addr: net.IPv4(127, 0, 0, 1), Port: 2, Tags: tags, Status: status}
}

// TestClusterGathersEveryServer checks how one server's console puts the cluster
// together: a peer that answers gives its state and events, one that fails is down
// with the reason, one gossip does not know is shown from the Raft configuration, the
// leader is the one that says so, each lag is measured against it, the events are
// merged by time, and the records are shown as text or base64, cut to MaxValueBytes.
func TestClusterGathersEveryServer(t *testing.T) {
	start := time.Now()
	leaderState := console.ServerState{
		Name: "peer-a", Role: "leader", Term: 5, Leader: "peer-a", LastIndex: 12, CommitIndex: 12,
		AppliedIndex: 12, NextOffset: 6, Ready: true,
		Events: []console.Event{
			{Time: start.Add(2 * time.Second), Server: "peer-a", Kind: console.EventState, Term: 5, Text: "peer-a became leader in term 5"},
			{Time: start, Server: "peer-a", Kind: console.EventVote, Term: 5, Peer: "peer-a", Text: "peer-a voted for itself in term 5"},
		},
	}
	log := followerLog()
	members := []serf.Member{
		member("self", "", serf.StatusAlive),
		member("peer-a", peerServer(t, leaderState, http.StatusOK), serf.StatusAlive),
		member("peer-b", peerServer(t, console.ServerState{}, http.StatusInternalServerError), serf.StatusFailed),
	}
	rec := console.NewRecorder("self", log, nil)
	rec.Add(console.EventVote, 5, "peer-a", "self voted for peer-a in term 5")
	c := console.New(console.Config{
		Name: "self", Log: log, Recorder: rec, Members: func() []serf.Member { return members },
	})

	cs := c.Cluster(t.Context())
	require.Equal(t, "self", cs.ServedBy)
	require.Equal(t, "peer-a", cs.Leader)
	require.Equal(t, uint64(5), cs.Term)

	names := make([]string, len(cs.Servers))
	for i, s := range cs.Servers {
		names[i] = s.Name
		if s.State != nil {
			require.Nil(t, s.State.Events, "%s: a row carries no events", s.Name)
		}
	}
	require.Equal(t, []string{"peer-a", "peer-b", "peer-c", "self"}, names, "every server, by name")

	a, b, cc, self := cs.Servers[0], cs.Servers[1], cs.Servers[2], cs.Servers[3]
	require.True(t, a.Up)
	require.Equal(t, "alive", a.Gossip)
	require.True(t, a.Voter)
	require.Equal(t, uint64(0), *a.LagEntries)

	require.False(t, b.Up)
	require.Nil(t, b.State)
	require.Equal(t, "failed", b.Gossip)
	require.False(t, b.Voter)
	require.Contains(t, b.Error, "500")
	require.Nil(t, b.LagEntries)

	require.False(t, cc.Up)
	require.Equal(t, "unknown", cc.Gossip)
	require.True(t, cc.Voter)
	require.Contains(t, cc.Error, "HTTP address is unknown")

	require.True(t, self.Up)
	require.True(t, self.Voter)
	require.Equal(t, uint64(12-8), *self.LagEntries, "the leader's last index minus what self applied")
	require.Equal(t, uint64(6-3), *self.LagRecords, "the leader's next offset minus self's")
	require.Equal(t, &console.Vote{Term: 5, For: "peer-a"}, self.State.Vote, "the vote by name, not address")

	require.Len(t, cs.Events, 3)
	for i := 1; i < len(cs.Events); i++ {
		require.False(t, cs.Events[i].Time.Before(cs.Events[i-1].Time), "events in time order: %v", cs.Events)
	}
	require.Equal(t, "peer-a became leader in term 5", cs.Events[2].Text)

	require.Len(t, cs.Records, 3)
	require.Equal(t, console.Record{Offset: 0, Value: "zero", Encoding: "text"}, cs.Records[0])
	require.Equal(t, console.Record{Offset: 1, Value: "/wA=", Encoding: "base64"}, cs.Records[1])
	require.True(t, cs.Records[2].Truncated)
	require.Equal(t, "text", cs.Records[2].Encoding, "cut between characters, not inside one")
	require.LessOrEqual(t, len(cs.Records[2].Value), console.MaxValueBytes)
	require.Nil(t, cs.Lab, "no lab outside lab mode")
}

// TestStreamSendsChanges reads the stream of server-sent events: each "state" event is
// a ClusterState on one data line, a change shows within a second, and Close ends the
// stream.
func TestStreamSendsChanges(t *testing.T) {
	log := followerLog()
	c := console.New(console.Config{
		Name: "self", Log: log, Recorder: console.NewRecorder("self", log, nil),
		Members: func() []serf.Member { return nil },
	})
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)

	res, err := http.Get(srv.URL + console.EventsPath)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	states := make(chan console.ClusterState)
	go func() {
		defer close(states)
		scanner := bufio.NewScanner(res.Body)
		scanner.Buffer(nil, 1<<20)
		event := ""
		for scanner.Scan() {
			line := scanner.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "state":
				var cs console.ClusterState
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cs) == nil {
					states <- cs
				}
			}
		}
	}()
	next := func() console.ClusterState {
		t.Helper()
		select {
		case cs, ok := <-states:
			require.True(t, ok, "the stream ended")
			return cs
		case <-time.After(5 * time.Second):
			t.Fatal("no state on the stream within 5s")
		}
		return console.ClusterState{}
	}
	self := func(cs console.ClusterState) *console.ServerState {
		t.Helper()
		for _, s := range cs.Servers {
			if s.Name == "self" {
				return s.State
			}
		}
		t.Fatalf("no row of self in %+v", cs)
		return nil
	}
	require.Equal(t, uint64(5), self(next()).Term)

	log.set(func(f *fakeLog) { f.status.Term, f.status.State = 6, "Candidate" })
	changed := time.Now()
	for {
		st := self(next())
		if st.Term == 6 {
			require.Equal(t, "candidate", st.Role)
			require.Less(t, time.Since(changed), time.Second, "the change reached the stream within a second")
			break
		}
	}

	c.Close()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-states:
			return !ok
		default:
			return false
		}
	}, 5*time.Second, 10*time.Millisecond, "Close ends the stream")
}

// TestPageIsReadOnlyAndSafe checks what the console serves besides the state: the page
// with a Content-Security-Policy that forbids inline script, its files, and a refusal
// of every method but GET; and that the page's script never writes markup.
func TestPageIsReadOnlyAndSafe(t *testing.T) {
	log := followerLog()
	c := console.New(console.Config{
		Name: "self", Log: log, Recorder: console.NewRecorder("self", log, nil),
		Members: func() []serf.Member { return nil },
	})
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := client.Get(srv.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, string(b)
	}
	res, _ := get("/ui")
	require.Equal(t, http.StatusMovedPermanently, res.StatusCode)
	require.Equal(t, "/ui/", res.Header.Get("Location"))

	res, page := get("/ui/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.NotContains(t, res.Header.Get("Content-Security-Policy"), "unsafe-inline")
	require.Contains(t, page, `<script src="app.js" defer></script>`)
	require.Equal(t, 1, strings.Count(page, "<script"), "no inline script")

	res, script := get("/ui/app.js")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "javascript")
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		require.NotContains(t, script, sink, "the page puts values in as text only")
	}

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequest(method, srv.URL+console.StatePath, nil)
		require.NoError(t, err)
		res, err := client.Do(req)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, method)
	}
	res, _ = get("/api/ui/nothing")
	require.Equal(t, http.StatusNotFound, res.StatusCode)
}
