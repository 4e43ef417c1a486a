package agent_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golog/internal/agent"
	"golog/internal/console"
	"golog/internal/lab"
)

// TestLabModeRefusedOffLoopback checks that an agent refuses lab mode unless every
// address it has or is given is loopback, and that it refuses it without HTTP.
func TestLabModeRefusedOffLoopback(t *testing.T) {
	c := newCluster(t, nil)
	tests := []struct {
		name   string
		change func(*agent.Config)
	}{
		{"gossip on every interface", func(cfg *agent.Config) { cfg.BindAddr = "0.0.0.0:0" }},
		{"gossip advertised off loopback", func(cfg *agent.Config) { cfg.AdvertiseBindAddr = "192.0.2.1:8401" }},
		{"RPC advertised off loopback", func(cfg *agent.Config) { cfg.AdvertiseRPCAddr = "192.0.2.1:8400" }},
		{"joining a server off loopback", func(cfg *agent.Config) {
			cfg.StartJoinAddrs, cfg.Bootstrap = []string{"192.0.2.2:8401"}, false
		}},
		{"a supervisor off loopback", func(cfg *agent.Config) { cfg.LabSupervisor = "192.0.2.3:4000" }},
		{"a supervisor by a name that may resolve anywhere", func(cfg *agent.Config) { cfg.LabSupervisor = "lab.example:4000" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := c.config(c.newNode("agent-0"))
			cfg.Lab = true
			tt.change(&cfg)
			a, err := agent.New(cfg)
			require.ErrorIs(t, err, lab.ErrNotLoopback)
			require.Nil(t, a)
		})
	}
	t.Run("without HTTP", func(t *testing.T) {
		cfg := c.config(c.newNode("agent-0"))
		require.NoError(t, cfg.HTTPListener.Close())
		cfg.HTTPListener, cfg.Lab = nil, true
		a, err := agent.New(cfg)
		require.ErrorContains(t, err, "lab mode needs the HTTP API")
		require.Nil(t, a)
	})
	t.Run("the same addresses without lab mode", func(t *testing.T) {
		cfg := c.config(c.newNode("agent-0"))
		cfg.AdvertiseBindAddr = "192.0.2.1:8401"
		a, err := agent.New(cfg)
		require.NoError(t, err)
		require.NoError(t, a.Shutdown())
	})
}

// labPost sends a lab request to url; with header false it leaves out the lab header.
func labPost(t *testing.T, client *http.Client, url, body string, header bool) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	if header {
		req.Header.Set(lab.HeaderName, "1")
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// clusterState reads the console's ClusterState from the server at url.
func clusterState(client *http.Client, url string) (console.ClusterState, bool) {
	var cs console.ClusterState
	res, err := client.Get(url + console.ClusterPath)
	if err != nil {
		return cs, false
	}
	defer res.Body.Close()
	return cs, res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&cs) == nil
}

// TestLabModeCutsAServerOff cuts the leader of a cluster in lab mode off through its
// lab endpoint: the two others elect a leader in a higher term, and the consoles show
// it; healed, the old leader follows the new one. A request without the lab header is
// refused, and a server without lab mode has no lab endpoint.
func TestLabModeCutsAServerOff(t *testing.T) {
	c := newCluster(t, nil)
	c.configure = func(nd *node, cfg *agent.Config) { cfg.Lab = nd.name != "agent-3" }
	nodes := c.startN(3)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	lead := leader(t, nodes)
	before, ok := clusterState(client, lead.httpURL)
	require.True(t, ok)
	require.Len(t, before.Servers, 3)
	require.Equal(t, lead.name, before.Leader)
	require.NotNil(t, before.Lab, "the console says it is in lab mode")

	status, body := labPost(t, client, lead.httpURL+"/api/lab/link", `{"cut": true}`, false)
	require.Equal(t, http.StatusForbidden, status, body)

	status, body = labPost(t, client, lead.httpURL+"/api/lab/link", `{"cut": true}`, true)
	require.Equal(t, http.StatusOK, status, body)
	others := followers(nodes, lead)
	var after console.ClusterState
	require.Eventually(t, func() bool {
		cs, ok := clusterState(client, others[0].httpURL)
		after = cs
		return ok && cs.Leader != "" && cs.Leader != lead.name && cs.Term > before.Term
	}, 30*time.Second, 50*time.Millisecond, "the others elect a leader without %s", lead.name)
	row := rowOf(after, lead.name)
	require.NotNil(t, row)
	require.NotNil(t, row.State, "the cut server's HTTP still answers")
	require.True(t, row.State.Cut, "the console shows it cut off")

	status, body = labPost(t, client, lead.httpURL+"/api/lab/link", `{"cut": false}`, true)
	require.Equal(t, http.StatusOK, status, body)
	require.Eventually(t, func() bool {
		cs, ok := clusterState(client, lead.httpURL)
		row := rowOf(cs, lead.name)
		return ok && cs.Leader == after.Leader && row != nil && row.State != nil && !row.State.Cut &&
			row.State.Role == "follower"
	}, 30*time.Second, 50*time.Millisecond, "%s follows %s once healed", lead.name, after.Leader)

	plain := c.newNode("agent-3")
	c.start(plain, c.config(plain, nodes[0].agent.BindAddr()))
	status, _ = labPost(t, client, plain.httpURL+"/api/lab/link", `{"cut": true}`, true)
	require.Equal(t, http.StatusNotFound, status, "a server without lab mode has no lab endpoint")
}

// rowOf returns the row of the server name in cs, or nil.
func rowOf(cs console.ClusterState, name string) *console.ServerRow {
	for i := range cs.Servers {
		if cs.Servers[i].Name == name {
			return &cs.Servers[i]
		}
	}
	return nil
}
