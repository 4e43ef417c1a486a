package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"golog/client"
)

// NewServersCommand returns `golog servers`: it lists the servers of the cluster.
func NewServersCommand(opts *ClientOptions) *cobra.Command {
	format := formatFlag{value: "text"}
	cmd := &cobra.Command{
		Use:   "servers",
		Short: "List the servers of the cluster and the leader",
		Long: `List the servers of the cluster, as one of them sees it: each server's ID, its RPC
address and whether it is the leader (the server that takes writes).

With --format json, each server is a JSON object on a line: {"id":"...","addr":"...",
"leader":true}.` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			return opts.run(cmd.Context(), true, func(ctx context.Context, c *client.Client) error {
				servers, err := c.Servers(ctx)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if format.value == "json" {
					for _, s := range servers {
						if err := writeJSON(out, jsonServer{ID: s.ID, Addr: s.Addr, Leader: s.Leader}); err != nil {
							return err
						}
					}
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tADDRESS\tLEADER")
				for _, s := range servers {
					leader := ""
					if s.Leader {
						leader = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, s.Addr, leader)
				}
				return tw.Flush()
			})
		},
	}
	setUp(cmd, opts)
	cmd.Flags().Var(&format, "format", "output format: text or json")
	return cmd
}

// jsonServer is a server as --format json prints it.
type jsonServer struct {
	ID     string `json:"id"`
	Addr   string `json:"addr"`
	Leader bool   `json:"leader"`
}
