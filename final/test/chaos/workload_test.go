package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"golog/client"
	"golog/test/history"
)

// opTimeout bounds every operation of the workload: what has no answer by then ends
// Unknown (an append) or failed (a read).
const opTimeout = 3 * time.Second

// A workload is clients producing and consuming through both APIs while the faults
// happen, each operation recorded in rec. Workers take turns between the gRPC client
// (which finds the leader and retries idempotently) and the HTTP API of a server
// chosen at random (an Idempotency-Key makes a forwarded write safe to retry). One more
// producer streams bursts of records through a client.Producer (batched, pipelined,
// resent with their sequence numbers when its stream fails).
type workload struct {
	c      *cluster
	rec    *history.Recorder
	client *client.Client
	http   *httpClient

	highest atomic.Int64 // the highest offset acknowledged so far, -1 at first
}

func newWorkload(c *cluster, rec *history.Recorder) *workload {
	w := &workload{c: c, rec: rec, client: c.client(), http: newHTTPClient(opTimeout)}
	w.highest.Store(-1)
	return w
}

// run runs workers producers, as many consumers and a streaming producer until ctx ends.
func (w *workload) run(ctx context.Context, workers int, seed uint64) {
	var wg sync.WaitGroup
	wg.Go(func() { w.stream(ctx, 2*workers) })
	for i := range 2 * workers {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				if i < workers {
					w.produce(i, n, rng)
				} else {
					w.consume(i, rng)
				}
			}
		})
	}
	wg.Wait()
}

// close closes the workload's clients; call it once run has returned.
func (w *workload) close() {
	w.client.Close()
	w.http.close()
}

// produce appends one unique value.
func (w *workload) produce(worker, n int, rng *rand.Rand) {
	value := fmt.Sprintf("w%d-%d", worker, n)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if rng.IntN(2) == 0 {
		p := w.rec.Append(worker, "grpc", "", value)
		off, err := w.client.Produce(ctx, []byte(value))
		w.settle(p, off, err)
		return
	}
	nd := w.c.nodes[rng.IntN(len(w.c.nodes))]
	p := w.rec.Append(worker, "http", nd.name, value)
	off, applied, err := w.httpProduce(ctx, nd, value)
	switch {
	case err == nil:
		w.acked(off)
		p.Appended(off)
	case applied == "no":
		p.Failed(err)
	default:
		p.Maybe(err)
	}
}

// The streaming producer sends streamBurst records, waits for their outcomes, then
// for streamPause: unpaced, it would write thousands of records a second, and the
// history the linearizability check searches would grow with them.
const (
	streamBurst = 10
	streamPause = 100 * time.Millisecond
)

// stream sends bursts of streamBurst unique values through one client.Producer until
// ctx ends. Each record is an operation of its own, from its Send to its outcome (or
// opTimeout), recorded under client IDs firstClient, firstClient+1, ...: one per record
// of a burst, as a burst's records are in flight together and the next burst starts
// when they are all done.
func (w *workload) stream(ctx context.Context, firstClient int) {
	p, err := w.client.NewProducer(client.ProducerConfig{Window: streamBurst})
	if err != nil {
		w.rec.Note("stream producer: %v", err)
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.Close(cctx) // what is still unresolved was recorded as unknown
	}()
	for n := 0; ctx.Err() == nil; n += streamBurst {
		var wg sync.WaitGroup
		for i := range streamBurst {
			value := fmt.Sprintf("s-%d", n+i)
			op := w.rec.Append(firstClient+i, "stream", "", value)
			sctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			ack, err := p.Send(sctx, []byte(value))
			if err != nil {
				cancel()
				op.Failed(err) // not sent: the Producer refused it (Applied "no")
				continue
			}
			wg.Go(func() {
				defer cancel()
				off, err := ack.Wait(sctx) // an error: failed, or still unresolved at the timeout
				w.settle(op, off, err)
			})
		}
		wg.Wait()
		select {
		case <-time.After(streamPause):
		case <-ctx.Done():
		}
	}
}

// settle records the outcome of an append made through the client package: its
// offset, or its error and what the error says of it (applied "no", or maybe).
func (w *workload) settle(p *history.Pending, off uint64, err error) {
	var cerr *client.Error
	switch {
	case err == nil:
		w.acked(off)
		p.Appended(off)
	case errors.As(err, &cerr) && cerr.Applied == client.AppliedNo:
		p.Failed(err)
	default:
		p.Maybe(err)
	}
}

func (w *workload) acked(off uint64) {
	for {
		h := w.highest.Load()
		if int64(off) <= h || w.highest.CompareAndSwap(h, int64(off)) {
			return
		}
	}
}

// httpError is the JSON error body of the HTTP API.
type httpError struct {
	Error   string `json:"error"`
	Applied string `json:"applied"`
}

// httpProduce POSTs value to nd with the value as its idempotency key. It returns the
// offset, or an error and what the server said of the write (applied "no" or "maybe";
// "" when no answer came, which counts as maybe).
func (w *workload) httpProduce(ctx context.Context, nd *node, value string) (uint64, string, error) {
	body, _ := json.Marshal(map[string]any{"record": map[string]string{"value": value}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nd.httpURL()+"/", bytes.NewReader(body))
	if err != nil {
		return 0, "no", err
	}
	req.Header.Set("Idempotency-Key", value)
	res, err := w.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		var ok struct {
			Offset uint64 `json:"offset"`
		}
		if err := json.Unmarshal(b, &ok); err != nil {
			return 0, "", fmt.Errorf("POST %s: %w", nd, err)
		}
		return ok.Offset, "", nil
	}
	var e httpError
	json.Unmarshal(b, &e)
	return 0, e.Applied, fmt.Errorf("POST %s: %d %s", nd, res.StatusCode, e.Error)
}

// consume reads an offset near the newest acknowledged one (sometimes past it), with a
// consistency level drawn at random; or, half the time over HTTP while a server has
// just started, a local read of that server.
func (w *workload) consume(worker int, rng *rand.Rand) {
	h := w.highest.Load()
	off := uint64(max(0, h-int64(rng.IntN(20))+int64(rng.IntN(3))))
	if h < 0 {
		off = 0
	}
	consistency := history.Linearizable
	if rng.IntN(3) == 0 {
		consistency = history.Local
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if rng.IntN(2) == 0 {
		p := w.rec.Read(worker, "grpc", "", off, consistency)
		c := client.Linearizable
		if consistency == history.Local {
			c = client.Local
		}
		r, err := w.client.Consume(ctx, off, c)
		var cerr *client.Error
		switch {
		case err == nil:
			p.Found(string(r.Value))
		case errors.As(err, &cerr) && cerr.Code == codes.OutOfRange:
			p.NotFound(err)
		default:
			p.ReadFailed(err)
		}
		return
	}
	nd := w.c.nodes[rng.IntN(len(w.c.nodes))]
	if fresh := w.justStarted(); fresh != nil && rng.IntN(2) == 0 {
		nd, consistency = fresh, history.Local
	}
	p := w.rec.Read(worker, "http", nd.name, off, consistency)
	value, found, err := w.httpConsume(ctx, nd, off, consistency)
	switch {
	case err != nil:
		p.ReadFailed(err)
	case found:
		p.Found(value)
	default:
		p.NotFound(nil)
	}
}

// freshFor is how long after a server's start the workload aims half of its HTTP
// reads at it.
const freshFor = 10 * time.Second

// justStarted returns the server that started last, if it started less than freshFor
// ago. Local reads aimed at it show whether it serves reads before it has caught up:
// after a start it must not answer "not found" for what was acknowledged before
// (check 5), and a server chosen at random would seldom be asked in time.
func (w *workload) justStarted() *node {
	s := w.c.lastStart.Load()
	if s == nil || time.Since(s.at) > freshFor {
		return nil
	}
	return s.nd
}

// httpConsume GETs the record at off from nd.
func (w *workload) httpConsume(ctx context.Context, nd *node, off uint64, c history.Consistency) (value string, found bool, err error) {
	q := url.Values{"offset": {strconv.FormatUint(off, 10)}, "consistency": {string(c)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, nd.httpURL()+"/?"+q.Encode(), nil)
	if err != nil {
		return "", false, err
	}
	res, err := w.http.Do(req)
	if err != nil {
		return "", false, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	switch res.StatusCode {
	case http.StatusOK:
		var ok struct {
			Record struct {
				Value  string `json:"value"`
				Offset uint64 `json:"offset"`
			} `json:"record"`
		}
		if err := json.Unmarshal(b, &ok); err != nil {
			return "", false, fmt.Errorf("GET %s offset %d: %w", nd, off, err)
		}
		if ok.Record.Offset != off {
			return "", false, fmt.Errorf("GET %s offset %d answered offset %d", nd, off, ok.Record.Offset)
		}
		return ok.Record.Value, true, nil
	case http.StatusNotFound:
		return "", false, nil
	}
	return "", false, fmt.Errorf("GET %s offset %d: %d %s", nd, off, res.StatusCode, bytes.TrimSpace(b))
}

// finalLogs reads every server's whole log with local reads, once the cluster has
// healed and every server has applied the same records.
func (w *workload) finalLogs(ctx context.Context) ([]history.Log, error) {
	status, err := w.client.Status(ctx)
	if err != nil {
		return nil, err
	}
	next := status[0].NextOffset
	logs := make([]history.Log, len(w.c.nodes))
	errs := make([]error, len(w.c.nodes))
	var wg sync.WaitGroup
	for i, nd := range w.c.nodes {
		wg.Go(func() {
			logs[i].Server = nd.name
			for off := range next {
				v, found, err := w.httpConsume(ctx, nd, off, history.Local)
				if err != nil {
					errs[i] = err
					return
				}
				if !found { // a gap: the checks will say so
					continue
				}
				logs[i].Records = append(logs[i].Records, history.Record{Offset: off, Value: v})
			}
		})
	}
	wg.Wait()
	return logs, errors.Join(errs...)
}

// saveJSON writes v as JSON to path.
func saveJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
