package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"golog/client"
)

// ProduceUnary writes records one per Produce call, s.Clients calls in flight, and
// verifies them (see Verify).
func ProduceUnary(ctx context.Context, c *client.Client, s Settings) (Result, error) {
	return produce(ctx, c, "produce/unary", s, func(ctx context.Context, w *worker, s Settings) error {
		value := make([]byte, 0, s.Size)
		for {
			index, n := w.q.take(1)
			if n == 0 {
				return nil
			}
			// Produce is done with value when it returns: the buffer can be reused.
			value = AppendPayload(value[:0], s.Nonce, index, s.Size)
			start := time.Now()
			off, err := c.Produce(ctx, value)
			if err != nil {
				return fmt.Errorf("record %d: %w", index, err)
			}
			w.acked(time.Since(start), ack{index: index, offset: off})
		}
	})
}

// ProduceBatch writes records s.Batch at a time with ProduceBatch, s.Clients calls in
// flight. Its latency is a call's.
func ProduceBatch(ctx context.Context, c *client.Client, s Settings) (Result, error) {
	s.Batch = max(s.Batch, 1)
	r, err := produce(ctx, c, "produce/batch", s, func(ctx context.Context, w *worker, s Settings) error {
		for {
			first, n := w.q.take(int64(s.Batch))
			if n == 0 {
				return nil
			}
			values := make([][]byte, n)
			for i := range values {
				values[i] = Payload(s.Nonce, first+uint64(i), s.Size)
			}
			start := time.Now()
			off, err := c.ProduceBatch(ctx, values)
			if err != nil {
				return fmt.Errorf("records %d to %d: %w", first, first+uint64(n)-1, err)
			}
			acks := make([]ack, n)
			for i := range acks {
				acks[i] = ack{index: first + uint64(i), offset: off + uint64(i)}
			}
			w.acked(time.Since(start), acks...)
		}
	})
	r.Batch = s.Batch
	return r, err
}

// ProduceStream writes records through one client.Producer per client, each keeping
// up to s.Window records in flight (0: client.DefaultWindow). Its latency runs from
// handing a record to the Producer to its acknowledgement.
func ProduceStream(ctx context.Context, c *client.Client, s Settings) (Result, error) {
	if s.Window <= 0 {
		s.Window = client.DefaultWindow
	}
	if s.Window > client.MaxProducerWindow {
		return Result{}, fmt.Errorf("bench: a stream's window is at most %d records (client.MaxProducerWindow), not %d",
			client.MaxProducerWindow, s.Window)
	}
	r, err := produce(ctx, c, "produce/stream", s, func(ctx context.Context, w *worker, s Settings) error {
		return streamRecords(ctx, c, w, s)
	})
	r.Window = s.Window
	return r, err
}

// streamRecords is the work of one client of ProduceStream.
func streamRecords(ctx context.Context, c *client.Client, w *worker, s Settings) error {
	ctx, cancel := context.WithCancel(ctx) // a failed record stops the sending
	defer cancel()
	p, err := c.NewProducer(client.ProducerConfig{Window: s.Window})
	if err != nil {
		return err
	}
	type inFlight struct {
		index uint64
		start time.Time
		ack   *client.Ack
	}
	// The Producer answers in order: one goroutine waits for each answer in turn.
	sent := make(chan inFlight, s.Window+1)
	collected := make(chan error, 1)
	go func() {
		var failed error
		for f := range sent {
			if failed != nil {
				continue
			}
			off, err := f.ack.Wait(ctx)
			if err != nil {
				failed = fmt.Errorf("record %d: %w", f.index, err)
				cancel()
				continue
			}
			w.acked(time.Since(f.start), ack{index: f.index, offset: off})
		}
		collected <- failed
	}()
	var sendErr error
	for {
		index, n := w.q.take(1)
		if n == 0 {
			break
		}
		start := time.Now()
		a, err := p.Send(ctx, Payload(s.Nonce, index, s.Size)) // the Producer keeps the value
		if err != nil {
			sendErr = fmt.Errorf("record %d: %w", index, err)
			break
		}
		sent <- inFlight{index: index, start: start, ack: a}
	}
	closeErr := p.Close(ctx)
	close(sent)
	failed := <-collected
	switch {
	case failed != nil:
		return failed
	case sendErr != nil:
		return sendErr
	case closeErr != nil:
		return fmt.Errorf("close the producer: %w", closeErr)
	}
	return nil
}

// An HTTPTarget is a server's HTTP JSON API: URL such as "http://127.0.0.1:4001/", and
// the client to reach it with (nil: one made for the run, keeping a connection per
// client alive).
type HTTPTarget struct {
	URL    string
	Client *http.Client
}

// ProduceHTTP writes records with POST requests to the JSON API, s.Clients requests in
// flight over keep-alive connections; c reads them back to verify them.
func ProduceHTTP(ctx context.Context, target HTTPTarget, c *client.Client, s Settings) (Result, error) {
	hc := target.Client
	if hc == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = max(s.Clients, 1)
		hc = &http.Client{Transport: transport}
		defer transport.CloseIdleConnections()
	}
	return produce(ctx, c, "produce/http", s, func(ctx context.Context, w *worker, s Settings) error {
		var body bytes.Buffer
		for {
			index, n := w.q.take(1)
			if n == 0 {
				return nil
			}
			// The payload is printable ASCII without quotes or backslashes: a JSON
			// string as it is.
			body.Reset()
			body.WriteString(`{"record":{"value":"`)
			body.Write(Payload(s.Nonce, index, s.Size))
			body.WriteString(`"}}`)
			start := time.Now()
			off, err := postRecord(ctx, hc, target.URL, body.Bytes())
			if err != nil {
				return fmt.Errorf("record %d: %w", index, err)
			}
			w.acked(time.Since(start), ack{index: index, offset: off})
		}
	})
}

// postRecord sends one produce request and returns the offset it answers.
func postRecord(ctx context.Context, hc *http.Client, url string, body []byte) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %s: %s", res.Status, bytes.TrimSpace(data))
	}
	var answer struct {
		Offset *uint64 `json:"offset"`
	}
	if err := json.Unmarshal(data, &answer); err != nil || answer.Offset == nil {
		return 0, fmt.Errorf("an answer without an offset: %q", data)
	}
	return *answer.Offset, nil
}

// produce runs a produce workload and verifies what it was answered.
func produce(ctx context.Context, c *client.Client, name string, s Settings,
	work func(ctx context.Context, w *worker, s Settings) error) (Result, error) {
	s, err := s.withDefaults()
	if err != nil {
		return Result{}, err
	}
	workers, elapsed, err := runWorkers(ctx, name, s, func(ctx context.Context, w *worker) error {
		return work(ctx, w, s)
	})
	if err != nil {
		return Result{}, fmt.Errorf("bench: %s: %w", name, err)
	}
	samples, records := merge(workers)
	r := newResult(name, s, records, elapsed, samples)
	verified, err := verifyProduced(ctx, c, s, workers)
	if err != nil {
		return r, fmt.Errorf("bench: %s: verify: %w", name, err)
	}
	r.Verified = verified
	return r, nil
}
