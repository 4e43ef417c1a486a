package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"golog/client"
	"golog/internal/agent"
	"golog/internal/cli"
	"golog/internal/storage"
	"golog/internal/testenv"
)

// A result is what a command did: its output, its error and the exit code for it.
type result struct {
	out    string
	errOut string
	err    error
	code   int
}

// run runs the command newCmd makes with args and stdin, as the golog binary would.
func run(t *testing.T, newCmd func(*cli.ClientOptions) *cobra.Command, stdin string, args ...string) result {
	t.Helper()
	return runContext(t.Context(), t, newCmd, stdin, &bytes.Buffer{}, args...)
}

// runContext is run with a context and an output buffer of the caller's.
func runContext(ctx context.Context, t *testing.T, newCmd func(*cli.ClientOptions) *cobra.Command, stdin string,
	out interface {
		Write([]byte) (int, error)
		String() string
	}, args ...string) result {
	opts := &cli.ClientOptions{Client: func(cfg *client.Config) {
		cfg.Logger = testenv.Logger(t)
		cfg.RefreshInterval = 100 * time.Millisecond
	}}
	cmd := newCmd(opts)
	var errOut bytes.Buffer
	cmd.SetOut(out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return result{out: out.String(), errOut: errOut.String(), err: err, code: cli.ExitCode(err)}
}

// flags returns the client flags of a command run with a certificate and key.
func (c *cluster) flags(cert, key string) []string {
	var addrs []string
	for _, nd := range c.nodes {
		addrs = append(addrs, nd.rpcAddr)
	}
	return []string{"--addr", strings.Join(addrs, ","), "--ca", c.certs.CAFile, "--cert", cert, "--key", key}
}

// root returns the client flags of a command run as root.
func (c *cluster) root(args ...string) []string {
	return append(c.flags(c.certs.RootClientCertFile, c.certs.RootClientKeyFile), args...)
}

// syncBuffer is a bytes.Buffer safe for a command writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCommands(t *testing.T) {
	c := newCluster(t, 3, func(cfg *agent.Config) {
		cfg.Segment = storage.SegmentConfig{MaxStoreBytes: 64 << 10}
	})
	lead := c.leader()

	t.Run("produce arguments", func(t *testing.T) {
		r := run(t, cli.NewProduceCommand, "", c.root("hello", "world")...)
		require.NoError(t, r.err)
		require.Equal(t, "0\n1\n", r.out)
	})
	t.Run("produce lines in batches", func(t *testing.T) {
		r := run(t, cli.NewProduceCommand, "a\nb\nc\nd\ne\n", c.root("--batch", "2")...)
		require.NoError(t, r.err)
		require.Equal(t, "2\n3\n4\n5\n6\n", r.out)
	})
	t.Run("produce lines in a stream", func(t *testing.T) {
		r := run(t, cli.NewProduceCommand, "f\n\ng", c.root()...)
		require.NoError(t, r.err)
		require.Equal(t, "7\n8\n9\n", r.out, "an empty line is an empty record; the last line needs no end")
	})
	want := []string{"hello", "world", "a", "b", "c", "d", "e", "f", "", "g"}
	c.waitForRecords(want)

	t.Run("consume as text", func(t *testing.T) {
		r := run(t, cli.NewConsumeCommand, "", c.root("--offset", "7")...)
		require.NoError(t, r.err)
		require.Equal(t, "7\tf\n8\t\n9\tg\n", r.out)
	})
	t.Run("consume as JSON, locally", func(t *testing.T) {
		r := run(t, cli.NewConsumeCommand, "", c.root("--format", "json", "--consistency", "local")...)
		require.NoError(t, r.err)
		lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
		require.Len(t, lines, len(want))
		for i, line := range lines {
			var rec struct {
				Offset uint64  `json:"offset"`
				Value  *string `json:"value"`
				Time   string  `json:"time"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
			require.Equal(t, uint64(i), rec.Offset)
			require.NotNil(t, rec.Value, line)
			require.Equal(t, want[i], *rec.Value)
			_, err := time.Parse(time.RFC3339Nano, rec.Time)
			require.NoError(t, err)
		}
	})
	t.Run("consume an offset out of range", func(t *testing.T) {
		r := run(t, cli.NewConsumeCommand, "", c.root("--offset", "100")...)
		require.Equal(t, cli.ExitNotFound, r.code, "%v", r.err)
		require.ErrorContains(t, r.err, "offset 100 is out of range: the log holds offsets 0 to 9")
	})
	t.Run("consume --follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		out := &syncBuffer{}
		done := make(chan result, 1)
		go func() {
			done <- runContext(ctx, t, cli.NewConsumeCommand, "", out, c.root("--offset", "9", "--follow")...)
		}()
		require.Eventually(t, func() bool { return out.String() == "9\tg\n" }, waitFor, tick)
		r := run(t, cli.NewProduceCommand, "", c.root("new")...)
		require.NoError(t, r.err)
		require.Eventually(t, func() bool { return out.String() == "9\tg\n10\tnew\n" }, waitFor, tick)
		cancel()
		r = <-done
		require.NoError(t, r.err, "an interrupted --follow ends well")
	})
	want = append(want, "new")

	t.Run("produce a record too large", func(t *testing.T) {
		r := run(t, cli.NewProduceCommand, "ok\n"+strings.Repeat("x", 65<<10)+"\n", c.root()...)
		require.Equal(t, cli.ExitNotApplied, r.code, "%v", r.err)
		require.Equal(t, "11\n", r.out, "the record before it was written")
		require.ErrorContains(t, r.err, "record 2: produce stream: not applied")
	})
	want = append(want, "ok")
	c.waitForRecords(want)

	t.Run("servers", func(t *testing.T) {
		r := run(t, cli.NewServersCommand, "", c.root()...)
		require.NoError(t, r.err)
		lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
		require.Len(t, lines, 4)
		require.Equal(t, []string{"ID", "ADDRESS", "LEADER"}, strings.Fields(lines[0]))
		var got, wantRows [][]string
		for _, line := range lines[1:] {
			got = append(got, strings.Fields(line))
		}
		for _, nd := range c.nodes {
			row := []string{nd.name, nd.rpcAddr}
			if nd == lead {
				row = append(row, "yes")
			}
			wantRows = append(wantRows, row)
		}
		require.ElementsMatch(t, wantRows, got)
	})
	t.Run("servers as JSON", func(t *testing.T) {
		r := run(t, cli.NewServersCommand, "", c.root("--format", "json")...)
		require.NoError(t, r.err)
		for _, nd := range c.nodes {
			require.Contains(t, r.out, fmt.Sprintf(`{"id":%q,"addr":%q,"leader":%t}`, nd.name, nd.rpcAddr, nd == lead))
		}
	})
	t.Run("status", func(t *testing.T) {
		r := run(t, cli.NewStatusCommand, "", c.root()...)
		require.NoError(t, r.err)
		lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
		require.Len(t, lines, 5)
		require.True(t, strings.HasPrefix(lines[0], fmt.Sprintf("leader %s (%s), term ", lead.name, lead.rpcAddr)), lines[0])
		require.Equal(t, []string{"ID", "ADDRESS", "STATE", "TERM", "COMMIT", "APPLIED", "LAG", "LAST", "CONTACT", "READY"},
			strings.Fields(lines[1]))
		for _, line := range lines[2:] {
			fields := strings.Fields(line)
			require.Len(t, fields, 9, line)
			if fields[0] == lead.name {
				require.Equal(t, []string{"Leader", "0", "-", "yes"}, []string{fields[2], fields[6], fields[7], fields[8]}, line)
			} else {
				require.Equal(t, "Follower", fields[2], line)
				_, err := time.ParseDuration(fields[7])
				require.NoError(t, err, "the time since the last contact: %s", line)
			}
		}
	})
	t.Run("status as JSON", func(t *testing.T) {
		r := run(t, cli.NewStatusCommand, "", c.root("--format", "json")...)
		require.NoError(t, r.err)
		lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
		require.Len(t, lines, 3)
		for _, line := range lines {
			var st struct {
				ID          string   `json:"id"`
				Leader      bool     `json:"leader"`
				Lag         *uint64  `json:"lag"`
				LastContact *float64 `json:"last_contact_seconds"`
				Ready       bool     `json:"ready"`
				NextOffset  uint64   `json:"next_offset"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &st), line)
			require.Equal(t, st.ID == lead.name, st.Leader, line)
			require.NotNil(t, st.Lag, line)
			require.Equal(t, !st.Leader, st.LastContact != nil, line)
			require.True(t, st.Ready, line)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			newCmd  func(*cli.ClientOptions) *cobra.Command
			args    []string
			message string
		}{
			{"an unknown flag", cli.NewServersCommand, c.root("--nope"), "unknown flag: --nope"},
			{"a bad format", cli.NewConsumeCommand, c.root("--format", "xml"), `must be "text" or "json"`},
			{"a bad consistency", cli.NewConsumeCommand, c.root("--consistency", "strong"), `must be "linearizable" or "local"`},
			{"a bad offset", cli.NewConsumeCommand, c.root("--offset", "-1"), `invalid argument "-1"`},
			{"a batch of none", cli.NewProduceCommand, c.root("--batch", "0", "x"), "--batch must be at least 1"},
			{"arguments where none are taken", cli.NewStatusCommand, c.root("now"), `takes no arguments, got ["now"]`},
			{"a CA file that is not there", cli.NewServersCommand,
				[]string{"--addr", c.nodes[0].rpcAddr, "--ca", c.certs.CAFile + ".missing"}, "read CA file"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := run(t, tc.newCmd, "", tc.args...)
				require.Equal(t, cli.ExitUsage, r.code, "%v", r.err)
				require.ErrorContains(t, r.err, tc.message)
			})
		}
	})
	t.Run("refused certificates", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			cert, key string
			message   string
		}{
			{"nobody", c.certs.NobodyClientCertFile, c.certs.NobodyClientKeyFile, `"nobody" may not consume`},
			{"no certificate", "", "", "tls: certificate required"},
			{"an expired certificate", c.certs.ExpiredClientCertFile, c.certs.ExpiredClientKeyFile, "tls: expired certificate"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := run(t, cli.NewProduceCommand, "", append(c.flags(tc.cert, tc.key), "secret")...)
				require.Equal(t, cli.ExitDenied, r.code, "%v", r.err)
				require.ErrorContains(t, r.err, tc.message)
				require.Empty(t, r.out)
			})
		}
	})
	c.waitForRecords(want) // nothing was written by the failures

	t.Run("no server reachable", func(t *testing.T) {
		for _, nd := range c.running() {
			c.stop(nd)
		}
		for _, newCmd := range []func(*cli.ClientOptions) *cobra.Command{
			cli.NewProduceCommand, cli.NewConsumeCommand, cli.NewServersCommand, cli.NewStatusCommand,
		} {
			args := c.root("--timeout", "5s")
			cmd := newCmd(&cli.ClientOptions{})
			if cmd.Name() == "produce" {
				args = append(args, "lost")
			}
			r := run(t, newCmd, "", args...)
			require.Equal(t, cli.ExitUnavailable, r.code, "%s: %v", cmd.Name(), r.err)
			require.ErrorContains(t, r.err, "connect: ")
			require.ErrorContains(t, r.err, c.nodes[0].rpcAddr, "the error names the servers it tried")
		}
	})
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, cli.ExitOK},
		{"usage", &cli.UsageError{Err: fmt.Errorf("bad")}, cli.ExitUsage},
		{"cobra's own", fmt.Errorf(`unknown command "x" for "golog"`), cli.ExitUsage},
		{"not applied", &client.Error{Applied: client.AppliedNo, Code: codes.Unavailable}, cli.ExitNotApplied},
		{"maybe applied", &client.Error{Applied: client.AppliedMaybe, Code: codes.DeadlineExceeded}, cli.ExitMaybe},
		{"maybe applied, then denied", &client.Error{Applied: client.AppliedMaybe, Code: codes.PermissionDenied}, cli.ExitMaybe},
		{"a write denied", &client.Error{Applied: client.AppliedNo, Code: codes.PermissionDenied}, cli.ExitDenied},
		{"a handshake", &client.Error{Reason: client.ReasonTLSHandshake, Code: codes.Unavailable}, cli.ExitDenied},
		{"unauthenticated", &client.Error{Code: codes.Unauthenticated}, cli.ExitDenied},
		{"out of range", &client.Error{Code: codes.OutOfRange}, cli.ExitNotFound},
		{"unavailable", &client.Error{Code: codes.Unavailable}, cli.ExitUnavailable},
		{"a deadline", fmt.Errorf("wrapped: %w", &client.Error{Code: codes.DeadlineExceeded}), cli.ExitUnavailable},
		{"internal", &client.Error{Code: codes.Internal}, cli.ExitServer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, cli.ExitCode(tc.err))
		})
	}
}
