package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"golog/internal/certs"
)

// newCertsCommand returns the certs command group.
func newCertsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make the certificates of a golog cluster",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(newCertsInitCommand())
	return cmd
}

// newCertsInitCommand returns the certs init command.
func newCertsInitCommand() *cobra.Command {
	var (
		dir   string
		hosts []string
		force bool
		keep  bool
	)
	cmd := &cobra.Command{
		Use:   "init [flags]",
		Short: "Make a CA, a server certificate and the root and nobody client certificates",
		Long: `Make a new certificate authority (CA) and the certificates it signs, as make gencert
does with the cfssl command, from the same CFSSL configurations (built in):

    ca.pem, ca-key.pem                      the CA
    server.pem, server-key.pem              CN "server": every server's identity, for
                                            server and client authentication, valid for
                                            localhost, 127.0.0.1, ::1 and each --host
    root-client.pem, root-client-key.pem    CN "root": may produce and consume
    nobody-client.pem, nobody-client-key.pem CN "nobody": may do nothing

with each one's certificate request beside it (NAME.csr). Keys are readable by their
owner only. Existing files are left alone unless --force is given. With --keep-existing,
a directory that holds every file already is used as it is (a container that makes its
certificates on its first start, and finds them on the next).

Give --host every name and address clients and servers dial, such as this machine's
address, or a name all servers share (clients that balance over the servers check every
server against one name). Keep ca-key.pem safe: whoever holds it can make certificates
that the cluster trusts.

Exit status: 0 when the files are written, 1 for bad flags, 7 if they cannot be written
(or exist already).`,
		Example: `  golog certs init --dir .certs
  golog certs init --dir /etc/golog --host golog.internal --host 10.0.0.5`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if force && keep {
				return usageError{errors.New("--force and --keep-existing contradict each other")}
			}
			bundles, err := certs.Generate(splitList(hosts)...)
			if err != nil {
				return err
			}
			if keep && allExist(dir, bundles) {
				fmt.Fprintf(cmd.OutOrStdout(), "kept the certificates in %s\n", dir)
				return nil
			}
			paths, err := certs.Write(dir, bundles, force)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w\nuse them as they are, or pass --force to replace them with a new CA", err)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, p := range paths {
				fmt.Fprintln(out, "wrote", p)
			}
			fmt.Fprintf(out, "start a server with: golog agent --cert-dir %s\n", dir)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dir, "dir", ".certs", "`directory` to write the files to; created if missing")
	fs.StringSliceVar(&hosts, "host", nil,
		"a DNS `name` or IP address the server certificate is also valid for; repeat or comma-separate")
	fs.BoolVar(&force, "force", false, "replace existing files (a new CA: certificates of the old one stop working)")
	fs.BoolVar(&keep, "keep-existing", false,
		"if every file exists already, keep them all and succeed (some of them only: still an error)")
	return cmd
}

// allExist says whether dir holds every file of bundles. Their contents are not
// checked: the servers check them when they load them.
func allExist(dir string, bundles []certs.Bundle) bool {
	for _, b := range bundles {
		for name := range b.Files() {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return false
			}
		}
	}
	return true
}
