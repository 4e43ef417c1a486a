package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"golog/internal/lab"
)

// labStartTimeout bounds how long golog lab waits for each server to serve.
const labStartTimeout = time.Minute

const labLong = `Run a cluster of --nodes servers on this machine's loopback interface in lab mode,
for teaching: open the printed URL, and the cluster console of any server shows the
whole cluster live, with buttons that stop (SIGTERM), kill (SIGKILL), pause (SIGSTOP),
resume and restart each server, and cut it off from the others and reconnect it. Kill
the leader and watch the others elect a new one.

golog lab is the servers' parent: it starts each one as golog agent --lab, on the
ports of ./run.sh --nodes (HTTP 4001, 4002, ...; gRPC and Raft 8400, 8410, ...; gossip
8401, 8411, ...; port 0 picks free ones), with its data in --data-dir/node-N, and serves
the lab's own API on --addr, which the servers' lab endpoints call. Arguments after --
go to every golog agent.

Lab mode is refused off loopback: --host, --addr and every server's addresses must be
loopback addresses. Never expose a lab cluster: anyone who reaches it can kill it.

SIGINT or SIGTERM stops every server gracefully, then golog lab.`

// newLabCommand returns the lab command.
func newLabCommand() *cobra.Command {
	var (
		cfg     = lab.SupervisorConfig{Nodes: 3, Host: "127.0.0.1", HTTPPort: 4001, RPCPort: 8400, GossipPort: 8401}
		addr    = "127.0.0.1:4000"
		certDir = ".certs"
	)
	cfg.DataDir = filepath.Join(".data", "lab")
	cmd := &cobra.Command{
		Use:   "lab [flags] [-- agent flags]",
		Short: "Run a local cluster in lab mode, to break on purpose from the console",
		Long:  labLong,
		Example: `  golog lab --nodes 3            then open http://127.0.0.1:4001/ui/
  golog lab --nodes 5 -- --log-level debug`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Nodes < 1 || cfg.Nodes > 9 {
				return usageError{fmt.Errorf("--nodes takes 1 to 9, not %d", cfg.Nodes)}
			}
			if err := lab.RequireLoopback("--host", cfg.Host, "--addr", addr); err != nil {
				return usageError{err}
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("lab: find the golog executable: %w", err)
			}
			cfg.Command = exe
			cfg.AgentArgs = append([]string{"--cert-dir", certDir}, args...)
			cfg.Output = cmd.ErrOrStderr()
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			cfg.StartTimeout = labStartTimeout
			return runLab(cmd.Context(), cfg, addr, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "how many servers to run, node-1 to node-N")
	fs.StringVar(&addr, "addr", addr, "loopback `host:port` of the lab's own API, which the servers call")
	fs.StringVar(&cfg.Host, "host", cfg.Host, "loopback `address` every server listens on")
	fs.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "node-1's HTTP `port`; node-N's is this + N-1 (0: pick free ports)")
	fs.IntVar(&cfg.RPCPort, "rpc-port", cfg.RPCPort, "node-1's gRPC and Raft `port`; node-N's is this + 10(N-1) (0: pick)")
	fs.IntVar(&cfg.GossipPort, "gossip-port", cfg.GossipPort, "node-1's gossip `port`; node-N's is this + 10(N-1) (0: pick)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "`directory` of the servers' data, one folder each")
	fs.StringVar(&certDir, "cert-dir", certDir, "`directory` of the certificates (golog certs init)")
	return cmd
}

// runLab starts the supervisor's servers and runs them until ctx is done; it prints
// where to look to out.
func runLab(ctx context.Context, cfg lab.SupervisorConfig, addr string, out io.Writer) (err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	s, err := lab.NewSupervisor(cfg, ln)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	if err := s.Start(ctx); err != nil {
		return err
	}
	nodes := s.Nodes()
	fmt.Fprintf(out, "lab: a cluster of %d servers in lab mode is up; open http://%s/ui/\n", len(nodes), nodes[0].HTTPAddr)
	for _, n := range nodes {
		fmt.Fprintf(out, "lab:   %s  console http://%s/ui/  gRPC+Raft %s  gossip %s  pid %d\n",
			n.Name, n.HTTPAddr, n.RPCAddr, n.BindAddr, n.PID)
	}
	fmt.Fprintf(out, "lab: the lab's API is on %s; Ctrl-C stops every server\n", s.Addr())
	<-ctx.Done()
	return nil
}
