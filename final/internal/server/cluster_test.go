package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
	"golog/internal/consensus"
)

// followerLog is a log on a server that is not the leader: reads work, appends are
// refused with the leader's whereabouts.
type followerLog struct {
	Log
	notLeader consensus.ErrNotLeader
}

func (f followerLog) Propose(context.Context, consensus.AppendRequest) (*consensus.Proposal, error) {
	return nil, f.notLeader
}

func (f followerLog) Append(context.Context, consensus.AppendRequest) (consensus.AppendResult, error) {
	return consensus.AppendResult{}, f.notLeader
}

// catchingUpLog is a log on a server that has just started and has not caught up with
// its cluster yet: it serves no reads.
type catchingUpLog struct{ Log }

func (catchingUpLog) Read(context.Context, uint64, consensus.Consistency) (*api.Record, error) {
	return nil, consensus.ErrCatchingUp
}

func (catchingUpLog) ReadBatch(context.Context, uint64, int, consensus.Consistency) ([]*api.Record, error) {
	return nil, consensus.ErrCatchingUp
}

// failingAppendLog fails every append with err.
type failingAppendLog struct {
	Log
	err error
}

func (f failingAppendLog) Append(context.Context, consensus.AppendRequest) (consensus.AppendResult, error) {
	return consensus.AppendResult{}, f.err
}

func TestGetServersAndStatus(t *testing.T) {
	f := newFixture(t, nil)
	res, err := f.client.GetServers(t.Context(), &api.GetServersRequest{})
	require.NoError(t, err)
	require.Len(t, res.Servers, 1)
	require.Equal(t, "server-0", res.Servers[0].Id)
	require.True(t, res.Servers[0].IsLeader)

	_, err = f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("x")})
	require.NoError(t, err)
	st, err := f.client.GetStatus(t.Context(), &api.GetStatusRequest{})
	require.NoError(t, err)
	require.Equal(t, "Leader", st.State)
	require.Equal(t, "server-0", st.LeaderId)
	require.True(t, st.Ready)
	require.Equal(t, uint64(1), st.NextOffset)
	require.Equal(t, st.CommitIndex, st.AppliedIndex, "the leader applied what it committed")
}

// Every failed write says, in its ErrorInfo, whether it was applied (the table in
// api/v1/errors.go).
func TestProduceErrorsSayWhetherApplied(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantCode    codes.Code
		wantReason  string
		wantApplied string
	}{
		{"leader known", consensus.ErrNotLeader{LeaderID: "a", LeaderAddr: "127.0.0.1:8400"},
			codes.FailedPrecondition, api.ReasonNotLeader, api.AppliedNo},
		{"no leader", consensus.ErrNotLeader{}, codes.Unavailable, api.ReasonNoLeader, api.AppliedNo},
		{"leadership lost", &consensus.AppendError{Applied: consensus.MaybeApplied, Reason: consensus.ReasonLeadershipLost},
			codes.Unknown, api.ReasonLeadershipLost, api.AppliedMaybe},
		{"deadline before propose", &consensus.AppendError{Applied: consensus.NotApplied, Reason: consensus.ReasonDeadlineBeforePropose},
			codes.DeadlineExceeded, api.ReasonDeadlineBeforePropose, api.AppliedNo},
		{"queue full", &consensus.AppendError{Applied: consensus.NotApplied, Reason: consensus.ReasonQueueFull},
			codes.Unavailable, api.ReasonQueueFull, api.AppliedNo},
		{"sequence too old", &consensus.AppendError{Applied: consensus.NotApplied, Reason: consensus.ReasonSequenceTooOld},
			codes.FailedPrecondition, api.ReasonSequenceTooOld, api.AppliedNo},
		{"stopping", consensus.ErrClosed, codes.Unavailable, api.ReasonShuttingDown, api.AppliedNo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(l Log) Log { return failingAppendLog{Log: l, err: tt.err} })
			_, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("x")})
			requireCode(t, tt.wantCode, err)
			info, ok := api.ErrorInfoOf(err)
			require.True(t, ok, "no ErrorInfo in %v", err)
			require.Equal(t, tt.wantReason, info.Reason)
			require.Equal(t, tt.wantApplied, api.WasApplied(err))
		})
	}
}

func TestProduceOnAFollowerNamesTheLeader(t *testing.T) {
	notLeader := consensus.ErrNotLeader{LeaderID: "a", LeaderAddr: "127.0.0.1:8400"}
	f := newFixture(t, func(l Log) Log { return followerLog{Log: l, notLeader: notLeader} })
	_, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("x")})
	requireCode(t, codes.FailedPrecondition, err)
	require.Contains(t, status.Convert(err).Message(), "send writes to a at 127.0.0.1:8400")
	id, addr, ok := api.LeaderOf(err)
	require.True(t, ok)
	require.Equal(t, "a", id)
	require.Equal(t, "127.0.0.1:8400", addr)

	stream, err := f.client.ProduceStream(t.Context())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&api.ProduceRequest{Record: record("x")}))
	_, err = stream.Recv()
	requireCode(t, codes.FailedPrecondition, err)
}

func TestHTTPProduceOnAFollower(t *testing.T) {
	notLeader := consensus.ErrNotLeader{LeaderID: "a", LeaderAddr: "127.0.0.1:8400"}
	l := newTestLog(t)

	t.Run("without forwarding: 503 naming the leader", func(t *testing.T) {
		srv := httptest.NewServer(NewHTTPServer(HTTPConfig{Log: followerLog{Log: l, notLeader: notLeader}}))
		t.Cleanup(srv.Close)
		res, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"record": {"value": "AA"}}`))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, res.Body.Close()) })
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		require.Equal(t, "1", res.Header.Get("Retry-After"))
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Contains(t, string(body), "the leader is a at 127.0.0.1:8400")
		require.Contains(t, string(body), `"applied":"no"`)
	})

	t.Run("forwarded to the leader, idempotently", func(t *testing.T) {
		var forwarded []consensus.AppendRequest
		forward := func(ctx context.Context, addr string, req consensus.AppendRequest) (consensus.AppendResult, error) {
			require.Equal(t, "127.0.0.1:8400", addr)
			forwarded = append(forwarded, req)
			return consensus.AppendResult{Offset: 41, Count: 1}, nil
		}
		srv := httptest.NewServer(NewHTTPServer(HTTPConfig{Log: followerLog{Log: l, notLeader: notLeader}, Forward: forward}))
		t.Cleanup(srv.Close)

		for _, key := range []string{"", "k1"} {
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"record": {"value": "AA"}}`))
			require.NoError(t, err)
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.NoError(t, res.Body.Close())
			require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", body)
			require.JSONEq(t, `{"offset":41}`, string(body), "the leader's offset")
		}
		require.Len(t, forwarded, 2)
		require.NotEmpty(t, forwarded[0].ProducerID, "a forward without a key gets a producer ID of its own")
		require.Equal(t, uint64(1), forwarded[0].Sequence)
		require.Equal(t, "http:k1", forwarded[1].ProducerID, "the client's key is the producer ID")
	})
}

func TestReadsWhileCatchingUpAreUnavailable(t *testing.T) {
	t.Run("gRPC Consume", func(t *testing.T) {
		f := newFixture(t, func(l Log) Log { return catchingUpLog{l} })
		_, err := f.client.Consume(t.Context(), &api.ConsumeRequest{Offset: 0})
		requireCode(t, codes.Unavailable, err)
		info, ok := api.ErrorInfoOf(err)
		require.True(t, ok)
		require.Equal(t, api.ReasonCatchingUp, info.Reason)
	})
	t.Run("gRPC ConsumeStream", func(t *testing.T) {
		f := newFixture(t, func(l Log) Log { return catchingUpLog{l} })
		stream, err := f.client.ConsumeStream(t.Context(), &api.ConsumeRequest{Offset: 0})
		require.NoError(t, err)
		_, err = stream.Recv()
		requireCode(t, codes.Unavailable, err)
	})
	t.Run("HTTP GET", func(t *testing.T) {
		srv := httptest.NewServer(NewHTTPServer(HTTPConfig{Log: catchingUpLog{newTestLog(t)}}))
		t.Cleanup(srv.Close)
		res, err := http.Get(srv.URL + "/?offset=0")
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, res.Body.Close()) })
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		require.Equal(t, "1", res.Header.Get("Retry-After"))
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		var body struct{ Error string }
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		require.Equal(t, consensus.ErrCatchingUp.Error(), body.Error)
	})
}

// The Cluster service answers the leader's read index, to server identities only.
func TestClusterReadIndex(t *testing.T) {
	f := newFixture(t, nil)
	serverCreds := f.clientTLS(t, f.certs.ServerCertFile, f.certs.ServerKeyFile)
	conn := f.dialConn(t, serverCreds)
	res, err := api.NewClusterClient(conn).ReadIndex(t.Context(), &api.ReadIndexRequest{})
	require.NoError(t, err)
	require.Equal(t, f.log.Status().CommitIndex, res.Index)

	root := f.dialConn(t, f.clientTLS(t, f.certs.RootClientCertFile, f.certs.RootClientKeyFile))
	_, err = api.NewClusterClient(root).ReadIndex(t.Context(), &api.ReadIndexRequest{})
	requireCode(t, codes.PermissionDenied, err)
}
