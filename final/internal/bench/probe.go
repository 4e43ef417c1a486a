package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ProbeSettings configure Probe. Zero fields take the defaults in brackets.
type ProbeSettings struct {
	// Dir is where the disk is probed: a directory on the file system the servers
	// keep their data on. Required.
	Dir string
	// Syncs is how many small appends are each flushed [1000].
	Syncs int
	// RecordSize is the bytes of each of those appends [100].
	RecordSize int
	// WriteBytes is how much the sequential write writes [256 MiB].
	WriteBytes int64
	// RoundTrips is how many loopback round trips are timed [10000].
	RoundTrips int
	// StreamBytes is how much the loopback bandwidth test sends [1 GiB].
	StreamBytes int64
}

// ProbeResult is what Probe measured: the limits of the machine.
type ProbeResult struct {
	// Fdatasync and Fsync are the latency of a RecordSize-byte append followed by
	// fdatasync(2), and by fsync(2) (Go's File.Sync, what golog's logs call).
	Fdatasync Latency `json:"append_fdatasync_us"`
	Fsync     Latency `json:"append_fsync_us"`
	// WriteMBPerSecond is sequential writing in 1 MiB writes, then one fsync.
	WriteMBPerSecond float64 `json:"sequential_write_mb_per_second"`
	// RoundTrip is a 1-byte request and its 1-byte answer over loopback TCP.
	RoundTrip Latency `json:"loopback_round_trip_us"`
	// LoopbackMBPerSecond is one TCP connection over loopback, 256 KiB writes.
	LoopbackMBPerSecond float64 `json:"loopback_mb_per_second"`
}

// Probe measures the machine: the disk under s.Dir and the loopback interface. It
// writes a scratch file in s.Dir and removes it.
func Probe(ctx context.Context, s ProbeSettings) (ProbeResult, error) {
	if s.Dir == "" {
		return ProbeResult{}, errors.New("bench: probe: no directory to probe the disk in")
	}
	s.Syncs = cmpOr(s.Syncs, 1000)
	s.RecordSize = cmpOr(s.RecordSize, 100)
	s.WriteBytes = cmpOr(s.WriteBytes, 256<<20)
	s.RoundTrips = cmpOr(s.RoundTrips, 10000)
	s.StreamBytes = cmpOr(s.StreamBytes, 1<<30)
	var r ProbeResult
	var err error
	if r.Fdatasync, err = probeSync(ctx, s, "fdatasync", func(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }); err != nil {
		return r, err
	}
	if r.Fsync, err = probeSync(ctx, s, "fsync", (*os.File).Sync); err != nil {
		return r, err
	}
	if r.WriteMBPerSecond, err = probeWrite(s); err != nil {
		return r, err
	}
	if r.RoundTrip, err = probeRoundTrip(s.RoundTrips); err != nil {
		return r, err
	}
	if r.LoopbackMBPerSecond, err = probeLoopback(s.StreamBytes); err != nil {
		return r, err
	}
	return r, nil
}

func cmpOr[T int | int64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// probeSync times s.Syncs appends of s.RecordSize bytes to a new file, each followed
// by sync.
func probeSync(ctx context.Context, s ProbeSettings, name string, sync func(*os.File) error) (Latency, error) {
	f, err := os.CreateTemp(s.Dir, "golog-probe-*")
	if err != nil {
		return Latency{}, fmt.Errorf("bench: probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	record := make([]byte, s.RecordSize)
	samples := make([]time.Duration, 0, s.Syncs)
	for range s.Syncs {
		if err := ctx.Err(); err != nil {
			return Latency{}, err
		}
		start := time.Now()
		if _, err := f.Write(record); err != nil {
			return Latency{}, fmt.Errorf("bench: probe: append: %w", err)
		}
		if err := sync(f); err != nil {
			return Latency{}, fmt.Errorf("bench: probe: %s: %w", name, err)
		}
		samples = append(samples, time.Since(start))
	}
	return summarize(samples), nil
}

// probeWrite writes s.WriteBytes to a new file in 1 MiB writes, fsyncs it, and returns
// the rate.
func probeWrite(s ProbeSettings) (float64, error) {
	path := filepath.Join(s.Dir, fmt.Sprintf("golog-probe-write-%d", os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("bench: probe: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	chunk := make([]byte, 1<<20)
	start := time.Now()
	for written := int64(0); written < s.WriteBytes; written += int64(len(chunk)) {
		if _, err := f.Write(chunk); err != nil {
			return 0, fmt.Errorf("bench: probe: write: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("bench: probe: fsync: %w", err)
	}
	return float64(s.WriteBytes) / 1e6 / time.Since(start).Seconds(), nil
}

// loopbackPair returns the two ends of a TCP connection over 127.0.0.1.
func loopbackPair() (client, server net.Conn, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("bench: probe: %w", err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept() // a failure shows as a nil conn
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, nil, fmt.Errorf("bench: probe: %w", err)
	}
	server = <-accepted
	if server == nil {
		client.Close()
		return nil, nil, errors.New("bench: probe: the loopback listener accepted nothing")
	}
	return client, server, nil
}

// probeRoundTrip times n 1-byte exchanges over loopback TCP.
func probeRoundTrip(n int) (Latency, error) {
	client, server, err := loopbackPair()
	if err != nil {
		return Latency{}, err
	}
	defer client.Close()
	go func() {
		defer server.Close()
		b := make([]byte, 1)
		for {
			if _, err := io.ReadFull(server, b); err != nil {
				return
			}
			if _, err := server.Write(b); err != nil {
				return
			}
		}
	}()
	b := make([]byte, 1)
	samples := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := client.Write(b); err != nil {
			return Latency{}, fmt.Errorf("bench: probe: loopback: %w", err)
		}
		if _, err := io.ReadFull(client, b); err != nil {
			return Latency{}, fmt.Errorf("bench: probe: loopback: %w", err)
		}
		samples = append(samples, time.Since(start))
	}
	return summarize(samples), nil
}

// probeLoopback sends total bytes over one loopback TCP connection and returns the
// rate.
func probeLoopback(total int64) (float64, error) {
	client, server, err := loopbackPair()
	if err != nil {
		return 0, err
	}
	received := make(chan error, 1)
	go func() {
		defer server.Close()
		n, err := io.Copy(io.Discard, server)
		if err == nil && n != total {
			err = fmt.Errorf("received %d bytes of %d", n, total)
		}
		received <- err
	}()
	chunk := make([]byte, 256<<10)
	start := time.Now()
	for sent := int64(0); sent < total; sent += int64(len(chunk)) {
		if _, err := client.Write(chunk[:min(int64(len(chunk)), total-sent)]); err != nil {
			client.Close()
			return 0, fmt.Errorf("bench: probe: loopback: %w", err)
		}
	}
	client.Close()
	if err := <-received; err != nil {
		return 0, fmt.Errorf("bench: probe: loopback: %w", err)
	}
	return float64(total) / 1e6 / time.Since(start).Seconds(), nil
}

// WriteText writes r for a person.
func (r ProbeResult) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "machine probe:\n"+
		"  append + fdatasync µs: p50 %.0f, p90 %.0f, p99 %.0f, max %.0f\n"+
		"  append + fsync µs:     p50 %.0f, p90 %.0f, p99 %.0f, max %.0f\n"+
		"  sequential write: %.0f MB/s\n"+
		"  loopback TCP round trip µs: p50 %.1f, p99 %.1f; bandwidth %.0f MB/s\n",
		r.Fdatasync.P50, r.Fdatasync.P90, r.Fdatasync.P99, r.Fdatasync.Max,
		r.Fsync.P50, r.Fsync.P90, r.Fsync.P99, r.Fsync.Max,
		r.WriteMBPerSecond, r.RoundTrip.P50, r.RoundTrip.P99, r.LoopbackMBPerSecond)
	return err
}
