package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// A Row sums up the runs of one case: the median of each figure, and its range.
type Row struct {
	Case string
	Runs int
	// Each figure is [median, lowest, highest] over the runs.
	RecordsPerSecond, MBPerSecond, P50, P99 [3]float64
}

// spread returns the median, lowest and highest of v (the median of an even count is
// the mean of the middle two).
func spread(v []float64) [3]float64 {
	slices.Sort(v)
	n := len(v)
	median := v[n/2]
	if n%2 == 0 {
		median = (v[n/2-1] + v[n/2]) / 2
	}
	return [3]float64{median, v[0], v[n-1]}
}

// Table groups results by Case (a run without one is its own case: its Workload), in
// the order the cases first appear, and sums up each.
func Table(results []Result) []Row {
	var order []string
	byCase := map[string][]Result{}
	for _, r := range results {
		name := r.Case
		if name == "" {
			name = r.Workload
		}
		if _, ok := byCase[name]; !ok {
			order = append(order, name)
		}
		byCase[name] = append(byCase[name], r)
	}
	rows := make([]Row, 0, len(order))
	for _, name := range order {
		runs := byCase[name]
		figure := func(f func(Result) float64) [3]float64 {
			v := make([]float64, len(runs))
			for i, r := range runs {
				v[i] = f(r)
			}
			return spread(v)
		}
		rows = append(rows, Row{
			Case:             name,
			Runs:             len(runs),
			RecordsPerSecond: figure(func(r Result) float64 { return r.RecordsPerSecond }),
			MBPerSecond:      figure(func(r Result) float64 { return r.MBPerSecond }),
			P50:              figure(func(r Result) float64 { return r.Latency.P50 }),
			P99:              figure(func(r Result) float64 { return r.Latency.P99 }),
		})
	}
	return rows
}

// ReadResults reads Results, one JSON document after another, as `golog bench --json`
// prints them.
func ReadResults(r io.Reader) ([]Result, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var results []Result
	for {
		var res Result
		err := dec.Decode(&res)
		if errors.Is(err, io.EOF) {
			return results, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bench: result %d: %w", len(results)+1, err)
		}
		results = append(results, res)
	}
}

// WriteTable writes rows as a Markdown table: median (lowest–highest) of each figure.
// Latencies are in milliseconds.
func WriteTable(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| case | runs | records/s | MB/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", r.Case, r.Runs,
			figure(r.RecordsPerSecond, 1, "%.0f"), figure(r.MBPerSecond, 1, "%.2f"),
			figure(r.P50, 1e-3, "%.2f"), figure(r.P99, 1e-3, "%.2f"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// figure formats [median, lowest, highest], each times scale; a figure that is zero in
// every run (a latency a workload does not measure) is a dash.
func figure(f [3]float64, scale float64, format string) string {
	if f == [3]float64{} {
		return "–"
	}
	m := fmt.Sprintf(format, f[0]*scale)
	if f[1] == f[2] {
		return m
	}
	return fmt.Sprintf("%s ("+format+"–"+format+")", m, f[1]*scale, f[2]*scale)
}
