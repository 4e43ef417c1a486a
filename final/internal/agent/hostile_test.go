package agent_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "golog/api/v1"
)

// Hostile clients: a server keeps serving the others, with bounded memory, whatever a
// client sends or fails to read.

// serving requires nd to take a produce over gRPC and one over HTTP, and to read them
// back.
func serving(t *testing.T, nd *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	res, err := nd.client.Produce(ctx, &api.ProduceRequest{Record: &api.Record{Value: []byte("still here")}})
	require.NoError(t, err)
	got, err := nd.client.Consume(ctx, &api.ConsumeRequest{Offset: res.Offset})
	require.NoError(t, err)
	require.Equal(t, "still here", string(got.Record.Value))

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nd.httpURL+"/", strings.NewReader(`{"record":{"value":"also here"}}`))
	require.NoError(t, err)
	hres, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(hres.Body)
	hres.Body.Close()
	require.Equal(t, http.StatusOK, hres.StatusCode, "%s", body)
}

func TestHostileOversizedMessages(t *testing.T) {
	c := newCluster(t, nil)
	nd := c.startN(1)[0]

	// gRPC refuses a message over its 4 MiB limit before the server sees it.
	huge := bytes.Repeat([]byte("x"), 5<<20)
	_, err := nd.client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: huge}})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)

	// HTTP refuses a body over --max-body-bytes (1 MiB by default) with 413.
	body := `{"record":{"value":"` + strings.Repeat("y", 2<<20) + `"}}`
	res, err := http.Post(nd.httpURL+"/", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, "%s", msg)

	serving(t, nd)
	// Nothing of the refused requests was appended: the log holds the two records of
	// serving only.
	st, err := nd.client.GetStatus(t.Context(), &api.GetStatusRequest{})
	require.NoError(t, err)
	require.Equal(t, uint64(2), st.NextOffset)
}

// TestHostileIdleAndSlowConnections opens a thousand connections to each port that send
// nothing, and one that sends half an HTTP header: the server keeps serving, closes the
// slow one (ReadHeaderTimeout), and its goroutines go back down once the idle ones
// close. (A silent connection to the RPC port is handed to gRPC after the 5 s the
// multiplexer waits for a first byte, and gRPC closes it when its handshake timeout,
// 120 s, passes: too long to wait for here.)
func TestHostileIdleAndSlowConnections(t *testing.T) {
	c := newCluster(t, nil)
	nd := c.startN(1)[0]
	serving(t, nd)
	baseline := runtime.NumGoroutine()

	const idle = 1000
	var conns []net.Conn
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	httpAddr := strings.TrimPrefix(nd.httpURL, "http://")
	for range idle {
		for _, addr := range []string{httpAddr, nd.rpcAddr} {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			conns = append(conns, conn)
		}
	}
	slow, err := net.Dial("tcp", httpAddr)
	require.NoError(t, err)
	defer slow.Close()
	_, err = slow.Write([]byte("GET /?offset=0 HTTP/1.1\r\nHost: golog\r\nX-Slow: "))
	require.NoError(t, err)

	serving(t, nd)

	// The server answers the slow one with 408 or closes it: reading it ends.
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(time.Minute)))
	_, err = io.Copy(io.Discard, slow)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept a half-sent request open: %v", err)
	for _, conn := range conns {
		conn.Close()
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= baseline+20 },
		waitFor, tick, "goroutines: %d, %d before the connections", runtime.NumGoroutine(), baseline)
	serving(t, nd)
}

// TestHostileUnreadStream opens a ConsumeStream over a large log and never reads it:
// gRPC's flow control stops the server sending, so the server's memory does not grow
// with the log, and it keeps serving the others.
func TestHostileUnreadStream(t *testing.T) {
	c := newCluster(t, nil)
	nd := c.startN(1)[0]
	const records, size = 200, 256 << 10 // 50 MiB
	value := bytes.Repeat([]byte("z"), size)
	for range records {
		_, err := nd.client.Produce(t.Context(), &api.ProduceRequest{Record: &api.Record{Value: value}})
		require.NoError(t, err)
	}
	before := heapInUse()

	// A second connection, so that the stalled stream does not share one with serving.
	stalled := c.client(nd.rpcAddr, c.rootTLS)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := stalled.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
	require.NoError(t, err)
	_ = stream // never read

	serving(t, nd)
	// A server that buffered the unread stream would have read the whole log for it
	// by the time another client has read the whole log through a stream of its own,
	// since it started first and does not wait on the network: measure then.
	readLog(t, nd, records)
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap in use grew by %d KiB with the stream unread (the log holds %d MiB)", grown>>10, records*size>>20)
	require.Less(t, grown, int64(records*size/2), "the server buffers the unread stream")
	cancel()
}

// readLog reads the first n records of nd's log through a ConsumeStream.
func readLog(t *testing.T, nd *node, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	stream, err := nd.client.ConsumeStream(ctx, &api.ConsumeRequest{Offset: 0})
	require.NoError(t, err)
	for i := range n {
		res, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, uint64(i), res.Record.Offset)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
