package bench

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// A Result is what a run measured. Its JSON form is what `golog bench --json` prints.
type Result struct {
	// Case is the label the caller gave the run (Settings.Label), to group runs of the
	// same case in a Table.
	Case string `json:"case,omitempty"`
	// Workload names the run, such as "produce/stream".
	Workload string `json:"workload"`
	// Clients, Window, Batch and Size are the run's settings (Window for streams,
	// Batch for batches; 0 where they do not apply).
	Clients int `json:"clients"`
	Window  int `json:"window,omitempty"`
	Batch   int `json:"batch,omitempty"`
	Size    int `json:"size"`
	// Records is how many records were acknowledged (produce) or read (consume) in
	// Seconds, the timed phase.
	Records int64   `json:"records"`
	Seconds float64 `json:"seconds"`
	// RecordsPerSecond and MBPerSecond are Records and their values' bytes (10^6
	// bytes a MB) per second.
	RecordsPerSecond float64 `json:"records_per_second"`
	MBPerSecond      float64 `json:"mb_per_second"`
	// Latency is the distribution of one operation's time, in microseconds.
	Latency Latency `json:"latency_us"`
	// Verified says what was checked once timing was over, and that it held (a run
	// whose check fails returns an error instead of a Result).
	Verified string `json:"verified"`
}

// Latency is a distribution of durations, in microseconds.
type Latency struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	P999    float64 `json:"p99_9"`
	Max     float64 `json:"max"`
}

// summarize returns the distribution of samples, which it sorts.
func summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		i := int(q * float64(len(samples)))
		i = min(i, len(samples)-1)
		return float64(samples[i].Nanoseconds()) / 1e3
	}
	return Latency{Samples: len(samples), P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999),
		Max: float64(samples[len(samples)-1].Nanoseconds()) / 1e3}
}

// newResult fills in the rates of a run of records values of size bytes in elapsed.
func newResult(workload string, s Settings, records int64, elapsed time.Duration, samples []time.Duration) Result {
	r := Result{Case: s.Label, Workload: workload, Clients: s.Clients, Size: s.Size, Records: records, Seconds: elapsed.Seconds(),
		Latency: summarize(samples)}
	if r.Seconds > 0 {
		r.RecordsPerSecond = float64(records) / r.Seconds
		r.MBPerSecond = float64(records) * float64(s.Size) / 1e6 / r.Seconds
	}
	return r
}

// WriteText writes r for a person: one line of rates, one of latencies, one of what
// was verified.
func (r Result) WriteText(w io.Writer) error {
	settings := fmt.Sprintf("%d client(s)", r.Clients)
	if r.Window > 0 {
		settings += fmt.Sprintf(", window %d", r.Window)
	}
	if r.Batch > 0 {
		settings += fmt.Sprintf(", batch %d", r.Batch)
	}
	l := r.Latency
	_, err := fmt.Fprintf(w, "%s: %d records of %d B, %s, in %.2f s\n"+
		"  %.0f records/s, %.2f MB/s\n"+
		"  latency µs: p50 %.0f, p90 %.0f, p99 %.0f, p99.9 %.0f, max %.0f (%d samples)\n"+
		"  verified: %s\n",
		r.Workload, r.Records, r.Size, settings, r.Seconds, r.RecordsPerSecond, r.MBPerSecond,
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Samples, r.Verified)
	return err
}
