package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	api "golog/api/v1"
	"golog/internal/consensus"
	"golog/internal/log"
)

// followerLog is a log on a server that is not the leader: reads work, appends are
// refused with the leader's whereabouts.
type followerLog struct {
	StreamingLog
	notLeader consensus.ErrNotLeader
}

func (f followerLog) Append(*api.Record) (uint64, error) { return 0, f.notLeader }

// catchingUpLog is a log on a server that has just started and has not caught up with
// its cluster yet: it serves no reads.
type catchingUpLog struct{ StreamingLog }

func (catchingUpLog) Read(uint64) (*api.Record, error) { return nil, consensus.ErrCatchingUp }

// fixedServers is a ServerLister with a fixed answer.
type fixedServers struct {
	servers []*api.Server
	err     error
}

func (f fixedServers) GetServers() ([]*api.Server, error) { return f.servers, f.err }

func TestGetServers(t *testing.T) {
	want := []*api.Server{
		{Id: "a", RpcAddr: "127.0.0.1:8400", IsLeader: true},
		{Id: "b", RpcAddr: "127.0.0.1:8410"},
	}
	f := newFixtureWith(t, nil, func(c *GRPCConfig) { c.Servers = fixedServers{servers: want} })

	res, err := f.client.GetServers(t.Context(), &api.GetServersRequest{})
	require.NoError(t, err)
	require.Len(t, res.Servers, len(want))
	for i := range want {
		require.True(t, proto.Equal(want[i], res.Servers[i]), "server %d: got %v", i, res.Servers[i])
	}
}

func TestGetServersOutsideACluster(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.client.GetServers(t.Context(), &api.GetServersRequest{})
	requireCode(t, codes.Unimplemented, err)
}

func TestGetServersError(t *testing.T) {
	f := newFixtureWith(t, nil, func(c *GRPCConfig) { c.Servers = fixedServers{err: log.ErrClosed} })
	_, err := f.client.GetServers(t.Context(), &api.GetServersRequest{})
	requireCode(t, codes.Unavailable, err)
}

func TestProduceOnAFollowerNamesTheLeader(t *testing.T) {
	tests := []struct {
		name        string
		notLeader   consensus.ErrNotLeader
		wantMessage string
	}{
		{"leader known", consensus.ErrNotLeader{LeaderID: "a", LeaderAddr: "127.0.0.1:8400"}, "send writes to a at 127.0.0.1:8400"},
		{"election in progress", consensus.ErrNotLeader{}, "no leader is known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(l StreamingLog) StreamingLog {
				return followerLog{StreamingLog: l, notLeader: tt.notLeader}
			})
			_, err := f.client.Produce(t.Context(), &api.ProduceRequest{Record: record("x")})
			requireCode(t, codes.FailedPrecondition, err)
			st := status.Convert(err)
			require.Contains(t, st.Message(), tt.wantMessage)
			require.Len(t, st.Details(), 1)
			info, ok := st.Details()[0].(*errdetails.ErrorInfo)
			require.True(t, ok, "detail is %T", st.Details()[0])
			require.Equal(t, api.ReasonNotLeader, info.Reason)
			require.Equal(t, map[string]string{"leader_id": tt.notLeader.LeaderID, "leader_addr": tt.notLeader.LeaderAddr}, info.Metadata)
		})
	}
}

func TestHTTPProduceOnAFollowerIsUnavailable(t *testing.T) {
	notLeader := consensus.ErrNotLeader{LeaderID: "a", LeaderAddr: "127.0.0.1:8400"}
	srv := httptest.NewServer(NewHTTPServer(HTTPConfig{Log: followerLog{notLeader: notLeader}}))
	t.Cleanup(srv.Close)

	res, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"record": {"value": "AA"}}`))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, res.Body.Close()) })
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), "the leader is a at 127.0.0.1:8400")
}

func TestHTTPProduceOnAFollowerSaysWhenToRetry(t *testing.T) {
	srv := httptest.NewServer(NewHTTPServer(HTTPConfig{Log: followerLog{notLeader: consensus.ErrNotLeader{}}}))
	t.Cleanup(srv.Close)

	res, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"record": {"value": "AA"}}`))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, res.Body.Close()) })
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.Equal(t, "1", res.Header.Get("Retry-After"))
}

func TestReadsWhileCatchingUpAreUnavailable(t *testing.T) {
	t.Run("gRPC Consume", func(t *testing.T) {
		f := newFixture(t, func(l StreamingLog) StreamingLog { return catchingUpLog{l} })
		_, err := f.client.Consume(t.Context(), &api.ConsumeRequest{Offset: 0})
		requireCode(t, codes.Unavailable, err)
		require.Contains(t, status.Convert(err).Message(), "catching up")
	})
	t.Run("gRPC ConsumeStream", func(t *testing.T) {
		f := newFixture(t, func(l StreamingLog) StreamingLog { return catchingUpLog{l} })
		stream, err := f.client.ConsumeStream(t.Context(), &api.ConsumeRequest{Offset: 0})
		require.NoError(t, err)
		_, err = stream.Recv()
		requireCode(t, codes.Unavailable, err)
	})
	t.Run("HTTP GET", func(t *testing.T) {
		srv := httptest.NewServer(NewHTTPServer(HTTPConfig{Log: catchingUpLog{}}))
		t.Cleanup(srv.Close)
		res, err := http.Get(srv.URL + "/?offset=0")
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, res.Body.Close()) })
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		require.Equal(t, "1", res.Header.Get("Retry-After"))
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.JSONEq(t, `{"error":"`+consensus.ErrCatchingUp.Error()+`"}`, string(body))
	})
}
