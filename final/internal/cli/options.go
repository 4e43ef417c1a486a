package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"golog/client"
	"golog/internal/config"
)

// Defaults of the shared client flags.
const (
	DefaultAddr    = "localhost:8400"
	DefaultTimeout = 10 * time.Second
)

// ClientOptions are what every client command needs to reach the cluster: the flags
// --addr, --ca, --cert, --key and --timeout. Several commands may share one
// ClientOptions: each command registers the flags on its own flag set, bound to the
// same fields, and only the command that runs parses its flags. Values set before the
// commands are made (from a configuration file or the environment) become the flags'
// defaults.
type ClientOptions struct {
	// Addrs are addresses of servers (host:port, the RPC port) to find the cluster
	// through. Empty means DefaultAddr.
	Addrs []string
	// CAFile is the CA certificate (PEM) to trust the servers with; empty means the
	// system's trusted CAs.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key (PEM); golog's servers
	// require one (mutual TLS), and their ACL knows its Common Name.
	CertFile string
	KeyFile  string
	// Timeout bounds each command, from connecting to its last answer, except
	// `consume --follow`, for which it bounds connecting only. Zero means
	// DefaultTimeout.
	Timeout time.Duration

	// Client, if set, configures the clients the commands make, after the fields
	// above: tests shorten the refresh interval with it.
	Client func(*client.Config)
}

// addFlags registers the shared flags on fs, bound to o, with o's values as defaults.
func (o *ClientOptions) addFlags(fs *pflag.FlagSet) {
	if len(o.Addrs) == 0 {
		o.Addrs = []string{DefaultAddr}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	fs.StringSliceVar(&o.Addrs, "addr", o.Addrs,
		"address of a server of the cluster, host:port (repeat the flag, or separate with commas, for several)")
	fs.StringVar(&o.CAFile, "ca", o.CAFile, "file of the CA certificate (PEM) that signed the servers' certificates")
	fs.StringVar(&o.CertFile, "cert", o.CertFile, "file of the client's certificate (PEM)")
	fs.StringVar(&o.KeyFile, "key", o.KeyFile, "file of the client's private key (PEM)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout,
		"how long the command may take (for consume --follow: how long connecting may take)")
}

// newClient connects to the cluster. A TLS file that cannot be used is a usage error;
// a cluster that cannot be reached is the client's *client.Error.
func (o *ClientOptions) newClient(ctx context.Context) (*client.Client, error) {
	tlsConfig, err := config.SetupTLSConfig(config.TLSConfig{CertFile: o.CertFile, KeyFile: o.KeyFile, CAFile: o.CAFile})
	if err != nil {
		return nil, usageErrorf("TLS: %v", err)
	}
	cfg := client.Config{Addrs: o.Addrs, TLS: tlsConfig}
	if o.Client != nil {
		o.Client(&cfg)
	}
	c, err := client.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// withTimeout returns ctx bounded by the --timeout.
func (o *ClientOptions) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.Timeout)
}

// run connects within the --timeout, runs f with the client and ctx (bounded by the
// --timeout, unless whole is false: then only connecting is), and closes the client.
func (o *ClientOptions) run(ctx context.Context, whole bool, f func(ctx context.Context, c *client.Client) error) error {
	connectCtx, cancel := o.withTimeout(ctx)
	defer cancel()
	c, err := o.newClient(connectCtx)
	if err != nil {
		return err
	}
	if whole {
		ctx = connectCtx
	}
	err = f(ctx, c)
	if cerr := c.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close the connection: %w", cerr)
	}
	return err
}
