package cli_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"golog/internal/cli"
)

// golog health asks the one server at --addr: SERVING and exit 0 from a server that
// serves; exit 6 for a client the ACL lets do nothing or the CA did not sign; exit 4
// when the server does not answer.
func TestHealth(t *testing.T) {
	c := newCluster(t, 1, nil)
	nd := c.nodes[0]
	flags := func(cert, key string) []string {
		return []string{"--addr", nd.rpcAddr, "--ca", c.certs.CAFile, "--cert", cert, "--key", key, "--timeout", "5s"}
	}

	r := run(t, cli.NewHealthCommand, "", flags(c.certs.RootClientCertFile, c.certs.RootClientKeyFile)...)
	require.NoError(t, r.err)
	require.Equal(t, "SERVING\n", r.out)

	r = run(t, cli.NewHealthCommand, "", flags(c.certs.NobodyClientCertFile, c.certs.NobodyClientKeyFile)...)
	require.Equal(t, cli.ExitDenied, r.code, "%v", r.err)
	r = run(t, cli.NewHealthCommand, "", flags(c.certs.OtherCAClientCertFile, c.certs.OtherCAClientKeyFile)...)
	require.NotEqual(t, cli.ExitOK, r.code, "%v", r.err)
	r = run(t, cli.NewHealthCommand, "", "--addr", nd.rpcAddr, "--ca", "/nonexistent/ca.pem")
	require.Equal(t, cli.ExitUsage, r.code, "%v", r.err)

	c.stop(nd)
	r = run(t, cli.NewHealthCommand, "", flags(c.certs.RootClientCertFile, c.certs.RootClientKeyFile)...)
	require.Equal(t, cli.ExitUnavailable, r.code, "%v", r.err)
}
