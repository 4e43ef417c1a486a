package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"golog/client"
	"golog/internal/bench"
	"golog/internal/config"
)

// NewBenchCommand returns `golog bench`: the load tool (produce, consume) and the
// machine probe (probe). See package bench for what each measures and checks.
func NewBenchCommand(opts *ClientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a cluster (produce, consume) or this machine (probe)",
		Long: `Measure a running cluster with a workload, or this machine's limits.

    golog bench produce --mode stream --count 100000    records/s, MB/s, latency
    golog bench consume --mode stream --count 1000000   read from a follower
    golog bench probe --dir .data                       fsync latency, loopback
    golog bench table < results.json                    median and range per --label

Every run checks what the cluster answered: a produce run reads every acknowledged
record back (at its offset, with its bytes, each client's records in order); a consume
run writes the records it reads first and checks each one it reads. A run whose check
fails exits with 7.`,
	}
	cmd.AddCommand(newBenchProduceCommand(opts), newBenchConsumeCommand(opts), newBenchProbeCommand(),
		newBenchTableCommand())
	return cmd
}

// benchFlags are the flags every load run has.
type benchFlags struct {
	settings bench.Settings
	json     bool
	progress bool
}

func (f *benchFlags) add(fs *pflag.FlagSet, count int64) {
	fs.IntVar(&f.settings.Size, "size", 100, fmt.Sprintf("bytes of each record (at least %d)", bench.MinSize))
	fs.Int64Var(&f.settings.Count, "count", count, "records to write or read; 0: as many as --duration allows")
	fs.DurationVar(&f.settings.Duration, "duration", 0, "how long to run, with --count 0")
	fs.IntVar(&f.settings.Clients, "clients", 1, "clients working at once (calls in flight, or streams)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON")
	fs.BoolVar(&f.progress, "progress", true, "print a progress line a second on the standard error")
	fs.StringVar(&f.settings.Label, "label", "", "the run's case, for golog bench table (JSON \"case\")")
}

// run runs the workload with the flags' settings and prints its result.
func (f *benchFlags) run(cmd *cobra.Command, opts *ClientOptions,
	workload func(ctx context.Context, c *client.Client, s bench.Settings) (bench.Result, error)) error {
	s := f.settings
	if f.progress {
		s.Progress = cmd.ErrOrStderr()
	}
	if s.Count == 0 && s.Duration <= 0 {
		return usageErrorf("give --count, or --count 0 and a --duration")
	}
	if s.Size < bench.MinSize {
		return usageErrorf("--size must be at least %d, not %d", bench.MinSize, s.Size)
	}
	return opts.run(cmd.Context(), false, func(ctx context.Context, c *client.Client) error {
		r, err := workload(ctx, c, s)
		if err != nil {
			return err
		}
		return printResult(cmd.OutOrStdout(), f.json, r)
	})
}

func printResult(out io.Writer, asJSON bool, r interface{ WriteText(io.Writer) error }) error {
	if !asJSON {
		return r.WriteText(out)
	}
	enc := json.NewEncoder(out)
	return enc.Encode(r)
}

// newBenchProduceCommand returns `golog bench produce`.
func newBenchProduceCommand(opts *ClientOptions) *cobra.Command {
	var (
		f       benchFlags
		mode    string
		httpURL string
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Write records as fast as the cluster takes them, and check them",
		Long: `Write records and print records/s, MB/s and the latency percentiles, then read every
acknowledged record back and check it.

--mode unary    one Produce call per record, --clients calls in flight
--mode stream   pipelined: one client.Producer per client (a ProduceBatchStream that
                batches what waits), --window records in flight on each
--mode batch    ProduceBatch calls of --batch records, --clients calls in flight
--mode http     POST requests to the HTTP JSON API at --http, --clients at a time over
                keep-alive connections` + exitCodesHelp,
		Example: `  golog bench produce --mode unary --clients 16 --count 50000
  golog bench produce --mode stream --window 4096 --duration 10s --count 0 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var workload func(ctx context.Context, c *client.Client, s bench.Settings) (bench.Result, error)
			switch mode {
			case "unary":
				workload = bench.ProduceUnary
			case "stream":
				if f.settings.Window < 1 || f.settings.Window > client.MaxProducerWindow {
					return usageErrorf("--window must be from 1 to %d, not %d", client.MaxProducerWindow, f.settings.Window)
				}
				workload = bench.ProduceStream
			case "batch":
				if f.settings.Batch < 1 {
					return usageErrorf("--batch must be at least 1, not %d", f.settings.Batch)
				}
				workload = bench.ProduceBatch
			case "http":
				target, err := httpTarget(httpURL, opts)
				if err != nil {
					return err
				}
				workload = func(ctx context.Context, c *client.Client, s bench.Settings) (bench.Result, error) {
					return bench.ProduceHTTP(ctx, target, c, s)
				}
			default:
				return usageErrorf("--mode must be unary, stream, batch or http, not %q", mode)
			}
			return f.run(cmd, opts, workload)
		},
	}
	setUp(cmd, opts)
	fs := cmd.Flags()
	f.add(fs, 10000)
	fs.StringVar(&mode, "mode", "unary", "unary, stream, batch or http")
	fs.IntVar(&f.settings.Window, "window", client.DefaultWindow, "--mode stream: records in flight on each stream")
	fs.IntVar(&f.settings.Batch, "batch", 100, "--mode batch: records per call")
	fs.StringVar(&httpURL, "http", "http://127.0.0.1:4001/", "--mode http: the URL of a server's HTTP API")
	return cmd
}

// httpTarget returns the HTTP API at rawURL; an https URL is reached with the TLS
// files of the client flags.
func httpTarget(rawURL string, opts *ClientOptions) (bench.HTTPTarget, error) {
	target := bench.HTTPTarget{URL: rawURL}
	if !strings.HasPrefix(rawURL, "https://") {
		if !strings.HasPrefix(rawURL, "http://") {
			return target, usageErrorf("--http must be an http:// or https:// URL, not %q", rawURL)
		}
		return target, nil
	}
	tlsConfig, err := config.SetupTLSConfig(config.TLSConfig{CertFile: opts.CertFile, KeyFile: opts.KeyFile, CAFile: opts.CAFile})
	if err != nil {
		return target, usageErrorf("TLS: %v", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.MaxIdleConnsPerHost = 1024
	target.Client = &http.Client{Transport: transport}
	return target, nil
}

// newBenchConsumeCommand returns `golog bench consume`.
func newBenchConsumeCommand(opts *ClientOptions) *cobra.Command {
	var (
		f           benchFlags
		mode        string
		consistency = consistencyFlag{value: client.Linearizable}
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Write --count records, then read them as fast as the cluster serves them",
		Long: `Write --count records (in batches, not timed), wait until every server holds them,
then read them back and print records/s and MB/s, checking every record read: its
offset, its order and its bytes.

--mode stream   each of --clients streams reads every record (ConsumeStream, from a
                follower when there is one); records/s counts all they read
--mode unary    one Consume call per record, --clients calls in flight` + exitCodesHelp,
		Example: `  golog bench consume --mode stream --count 1000000
  golog bench consume --mode unary --clients 16 --consistency local`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.settings.Count == 0 {
				return usageErrorf("--count must be more than 0: consume reads the records it writes first")
			}
			switch mode {
			case "stream":
				return f.run(cmd, opts, func(ctx context.Context, c *client.Client, s bench.Settings) (bench.Result, error) {
					return bench.ConsumeStream(ctx, c, consistency.value, s)
				})
			case "unary":
				return f.run(cmd, opts, func(ctx context.Context, c *client.Client, s bench.Settings) (bench.Result, error) {
					return bench.ConsumeUnary(ctx, c, consistency.value, s)
				})
			}
			return usageErrorf("--mode must be stream or unary, not %q", mode)
		},
	}
	setUp(cmd, opts)
	fs := cmd.Flags()
	f.add(fs, 100000)
	fs.StringVar(&mode, "mode", "stream", "stream or unary")
	fs.Var(&consistency, "consistency", "linearizable or local (for a stream: its first read)")
	return cmd
}

// newBenchProbeCommand returns `golog bench probe`.
func newBenchProbeCommand() *cobra.Command {
	var (
		s      bench.ProbeSettings
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Measure this machine: fsync latency, disk and loopback bandwidth",
		Long: `Measure the limits every figure of golog bench is bounded by: a small append followed
by fdatasync and by fsync (the log's flush), sequential writing, and a loopback TCP
round trip and bandwidth. --dir must be on the file system the servers keep their data
on; the probe writes a scratch file there (--write-bytes) and removes it.`,
		Example: `  golog bench probe --dir .data`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if s.Dir == "" {
				return usageErrorf("--dir is required: a directory on the servers' data file system")
			}
			if info, err := os.Stat(s.Dir); err != nil || !info.IsDir() {
				return usageErrorf("--dir %q is not a directory", s.Dir)
			}
			r, err := bench.Probe(cmd.Context(), s)
			if err != nil {
				return err
			}
			return printResult(cmd.OutOrStdout(), asJSON, r)
		},
	}
	cmd.SilenceUsage = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	fs := cmd.Flags()
	fs.StringVar(&s.Dir, "dir", "", "a directory on the file system to probe")
	fs.IntVar(&s.Syncs, "syncs", 1000, "appends, each flushed, to time")
	fs.IntVar(&s.RecordSize, "record-size", 100, "bytes of each of those appends")
	fs.Int64Var(&s.WriteBytes, "write-bytes", 256<<20, "bytes of the sequential write")
	fs.IntVar(&s.RoundTrips, "round-trips", 10000, "loopback round trips to time")
	fs.Int64Var(&s.StreamBytes, "stream-bytes", 1<<30, "bytes sent over loopback for its bandwidth")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// newBenchTableCommand returns `golog bench table`.
func newBenchTableCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Sum up --json results: the median and range of each case",
		Long: `Read the results of golog bench produce and consume --json runs on the standard input,
group them by their --label (their workload when they have none), in the order each
first appears, and print a Markdown table: for each case the number of runs and the
median (lowest–highest) of records/s, MB/s and the p50 and p99 latencies.`,
		Example: `  for i in 1 2 3; do golog bench produce --json --label unary; done | golog bench table`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			results, err := bench.ReadResults(cmd.InOrStdin())
			if err != nil {
				return usageErrorf("%v", err)
			}
			if len(results) == 0 {
				return usageErrorf("no results on the standard input")
			}
			return bench.WriteTable(cmd.OutOrStdout(), bench.Table(results))
		},
	}
	cmd.SilenceUsage = true
	return cmd
}
