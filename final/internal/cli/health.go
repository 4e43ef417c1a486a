package cli

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"golog/client"
	"golog/internal/config"
)

// NewHealthCommand returns `golog health`: it asks one server's gRPC health service
// whether it serves, as grpc-health-probe does, with the client certificate of the
// other commands. Its exit code makes it a container's health check or a Kubernetes
// exec probe, in an image that holds nothing but golog.
func NewHealthCommand(opts *ClientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Ask one server whether it serves (the gRPC health check)",
		Long: `Ask the server at --addr (the first, if several are given) whether it serves: SERVING
once it knows a leader and has caught up after its start, NOT_SERVING otherwise. It
prints the answer, and exits 0 for SERVING and 4 for NOT_SERVING or no answer.

The check is the standard gRPC health service (grpc.health.v1.Health/Check) over
mutual TLS: the client certificate must be one the ACL lets consume.` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := opts.withTimeout(cmd.Context())
			defer cancel()
			serving, err := checkHealth(ctx, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), serving)
			if serving != healthpb.HealthCheckResponse_SERVING {
				return &client.Error{Op: "health", Code: codes.Unavailable,
					Err: fmt.Errorf("%s answers %s", opts.Addrs[0], serving)}
			}
			return nil
		},
	}
	setUp(cmd, opts)
	return cmd
}

// checkHealth asks the first server of opts for its health, over a connection of its
// own (not a client of the cluster, which would ask any server).
func checkHealth(ctx context.Context, opts *ClientOptions) (healthpb.HealthCheckResponse_ServingStatus, error) {
	addr := opts.Addrs[0]
	tlsConfig, err := config.SetupTLSConfig(config.TLSConfig{CertFile: opts.CertFile, KeyFile: opts.KeyFile, CAFile: opts.CAFile})
	if err != nil {
		return 0, usageErrorf("TLS: %v", err)
	}
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		tlsConfig.ServerName = host
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		return 0, usageErrorf("address %q: %v", addr, err)
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		code := status.Code(err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			code = codes.Unavailable // no answer in time
		}
		return 0, &client.Error{Op: "health", Code: code, Err: err}
	}
	return res.Status, nil
}
