package agent_test

import (
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
)

// scrape gets nd's /metrics and parses it.
func scrape(t require.TestingT, url string) map[string]*dto.MetricFamily {
	res, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	require.NoError(t, err)
	return families
}

// metricValue returns the value of the series of family name whose labels include
// labels (name, value pairs): a counter's or gauge's value, a histogram's count. It
// fails if there is no such series.
func metricValue(t require.TestingT, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := families[name]
	require.True(t, ok, "no metric %s", name)
	for _, m := range f.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	require.Failf(t, "no series", "%s%v", name, labels)
	return 0
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// A scrape of /metrics after known traffic shows it: on the leader, the appends and
// records it made (gRPC Produce, ProduceBatch and ProduceStream, an HTTP POST) and the reads it
// served; on a follower, the produce it refused as not the leader. The state gauges of
// every server agree with what GetStatus and GetServers say.
func TestMetricsCountTrafficAndShowRaftState(t *testing.T) {
	c := newCluster(t, nil)
	nodes := c.startN(3)
	lead := leader(t, nodes)
	follower := followers(nodes, lead)[0]

	values := []string{"a", "bb", "ccc", "dddd", "eeeee"}
	wantBytes := 0
	for i, v := range values {
		res, err := lead.client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte(v)}})
		require.NoError(t, err, "produce %q", v)
		require.Equal(t, uint64(i), res.Offset)
		wantBytes += len(v)
	}
	batch := []*api.Record{{Value: []byte("x")}, {Value: []byte("yy")}, {Value: []byte("zzz")}}
	_, err := lead.client.ProduceBatch(t.Context(), &api.ProduceBatchRequest{Records: batch})
	require.NoError(t, err)
	wantBytes += 6
	code, body := post(t, http.DefaultClient, lead.httpURL, `{"record":{"value":"http"}}`)
	require.Equal(t, http.StatusOK, code, body)
	wantBytes += 4
	stream, err := lead.client.ProduceStream(t.Context())
	require.NoError(t, err)
	for _, v := range []string{"s1", "s2", "s3"} {
		require.NoError(t, stream.Send(&api.ProduceRequest{Record: &api.Record{Value: []byte(v)}}))
		_, err := stream.Recv()
		require.NoError(t, err, "stream produce %q", v)
		wantBytes += len(v)
	}
	require.NoError(t, stream.CloseSend())
	const wantAppends = 5 + 1 + 1 + 3
	const wantRecords = 5 + 3 + 1 + 3

	const reads = 4
	readBytes := 0
	for off := range uint64(reads) {
		res, err := lead.client.Consume(t.Context(), &api.ConsumeRequest{Offset: off})
		require.NoError(t, err)
		readBytes += len(res.Record.Value)
	}
	_, err = lead.client.Consume(t.Context(), &api.ConsumeRequest{Offset: 1000})
	require.Equal(t, codes.OutOfRange, status.Code(err))

	_, err = follower.client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: []byte("no")}})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "a follower refuses a gRPC produce")

	// A stream's proposals are counted once answered, by a goroutine of their own:
	// the client has its answers a moment before.
	var m map[string]*dto.MetricFamily
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		m = scrape(ct, lead.httpURL)
		require.Equal(ct, float64(wantAppends), metricValue(ct, m, "golog_produce_requests_total", "result", "ok"))
	}, waitFor, tick)
	require.Equal(t, 0.0, metricValue(t, m, "golog_produce_requests_total", "result", "not_leader"))
	require.Equal(t, float64(wantRecords), metricValue(t, m, "golog_produce_records_total"))
	require.Equal(t, float64(wantBytes), metricValue(t, m, "golog_produce_bytes_total"))
	require.Equal(t, float64(wantAppends), metricValue(t, m, "golog_produce_duration_seconds"), "one latency per append")
	require.Equal(t, float64(reads), metricValue(t, m, "golog_consume_records_total", "result", "ok"))
	require.Equal(t, 1.0, metricValue(t, m, "golog_consume_records_total", "result", "out_of_range"))
	require.Equal(t, float64(readBytes), metricValue(t, m, "golog_consume_bytes_total"))
	require.Equal(t, float64(reads+1), metricValue(t, m, "golog_consume_duration_seconds"))
	require.Equal(t, float64(wantRecords), metricValue(t, m, "golog_log_next_offset"))
	require.GreaterOrEqual(t, metricValue(t, m, "golog_log_segments"), 1.0)
	require.Greater(t, metricValue(t, m, "golog_log_bytes"), float64(wantBytes), "records and their framing")

	f := scrape(t, follower.httpURL)
	require.Equal(t, 1.0, metricValue(t, f, "golog_produce_requests_total", "result", "not_leader"))
	require.Equal(t, 0.0, metricValue(t, f, "golog_produce_records_total"))

	for _, nd := range nodes {
		servers, err := nd.client.GetServers(t.Context(), &api.GetServersRequest{})
		require.NoError(t, err)
		// Heartbeats move no index, and nothing is written now: the scrape and the
		// status agree once the follower has applied the last record.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			st, err := nd.client.GetStatus(t.Context(), &api.GetStatusRequest{})
			require.NoError(ct, err)
			m := scrape(ct, nd.httpURL)
			state := "Follower"
			for _, s := range servers.Servers {
				if s.Id == nd.name && s.IsLeader {
					state = "Leader"
				}
			}
			require.Equal(ct, st.State, state, "GetStatus and GetServers agree on %s", nd.name)
			require.Equal(ct, 1.0, metricValue(ct, m, "golog_raft_state", "state", state), nd.name)
			require.Equal(ct, 0.0, metricValue(ct, m, "golog_raft_state", "state", "Candidate"), nd.name)
			require.Equal(ct, float64(st.Term), metricValue(ct, m, "golog_raft_term"), nd.name)
			require.Equal(ct, float64(st.CommitIndex), metricValue(ct, m, "golog_raft_commit_index"), nd.name)
			require.Equal(ct, float64(st.AppliedIndex), metricValue(ct, m, "golog_raft_applied_index"), nd.name)
			require.Equal(ct, float64(st.LastIndex), metricValue(ct, m, "golog_raft_last_index"), nd.name)
			require.Equal(ct, st.CommitIndex, st.AppliedIndex, "%s has applied everything", nd.name)
			require.Equal(ct, 0.0, metricValue(ct, m, "golog_raft_lag_entries"), nd.name)
			require.Equal(ct, float64(len(servers.Servers)), metricValue(ct, m, "golog_raft_voters"), nd.name)
			require.Equal(ct, 1.0, metricValue(ct, m, "golog_raft_has_leader"), nd.name)
			require.Equal(ct, 1.0, metricValue(ct, m, "golog_ready"), nd.name)
			require.Equal(ct, 3.0, metricValue(ct, m, "golog_members", "status", "alive"), nd.name)
			require.Equal(ct, float64(wantRecords), metricValue(ct, m, "golog_log_next_offset"), nd.name)
			_, contact := m["golog_raft_last_contact_seconds"]
			require.Equal(ct, state == "Follower", contact, "last contact is a follower's")
		}, waitFor, tick, "the metrics of %s", nd.name)
	}
}

// The leader's /metrics shows how far each follower is behind it: nothing once every
// server holds every record, the records a follower missed while it was cut off, and
// nothing again once it has caught up. A follower exports no lag of the others.
func TestMetricsShowEachFollowersLag(t *testing.T) {
	c := newCluster(t, nil)
	p := newPartition(t)
	c.configure = p.attach
	nodes := c.startN(3)
	produceAll(t, nodes, 0, "before")
	lead := leader(t, nodes)
	fs := followers(nodes, lead)
	cut, other := fs[0], fs[1]

	// requireLag waits until the leader's metrics show wantCut records and at least as
	// many entries of lag for cut, and none for the other followers. The leader is looked
	// up at each try: an election on a busy machine may move it.
	requireLag := func(msg string, wantCut float64) {
		t.Helper()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			var lead *node
			for _, nd := range nodes {
				if metricValue(ct, scrape(ct, nd.httpURL), "golog_raft_state", "state", "Leader") == 1 {
					lead = nd
				}
			}
			require.NotNil(ct, lead, "a leader")
			m := scrape(ct, lead.httpURL)
			for _, f := range followers(nodes, lead) {
				want := 0.0
				if f == cut {
					want = wantCut
				}
				require.Equal(ct, 1.0, metricValue(ct, m, "golog_follower_up", "follower", f.name), f.name)
				require.Equal(ct, want, metricValue(ct, m, "golog_follower_lag_records", "follower", f.name), f.name)
				entries := metricValue(ct, m, "golog_follower_lag_entries", "follower", f.name)
				if want == 0 {
					require.Equal(ct, 0.0, entries, f.name)
				} else {
					require.GreaterOrEqual(ct, entries, want, "%s: one entry a record at least", f.name)
				}
			}
		}, waitFor, tick, msg)
	}
	requireLag("every follower holds every record", 0)
	for _, nd := range nodes {
		m := scrape(t, nd.httpURL)
		if metricValue(t, m, "golog_raft_state", "state", "Follower") != 1 {
			continue
		}
		for _, name := range []string{"golog_follower_up", "golog_follower_lag_entries", "golog_follower_lag_records"} {
			require.NotContains(t, m, name, "%s is a follower: it exports no lag", nd.name)
		}
	}

	p.Cut(cut)
	produceAll(t, []*node{lead, other}, 1, "while", "one", "is cut off")
	requireLag("the cut-off follower misses three records", 3)

	p.Heal(cut)
	requireLag("the follower has caught up", 0)
}
