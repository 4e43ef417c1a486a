package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"golog/client"
	"golog/internal/cli"
)

// Exit statuses of golog, one table for every command (the client commands' codes
// 2 to 6 are package cli's, see cli.ExitCode):
//
//	0  done; a server stopped gracefully
//	1  usage: a bad command line, flag, setting, or a file that cannot be used
//	2  not applied (a write failed; running it again is safe)
//	3  maybe applied (a write failed and may be in the log)
//	4  unavailable (no server could be reached or answered in time)
//	5  not found (no record at that offset)
//	6  denied (a certificate refused, or the ACL says no)
//	7  failed: the command could not do its work (a server that cannot start or fails
//	   while serving; files that cannot be written; a server error)
const (
	exitOK     = cli.ExitOK
	exitUsage  = cli.ExitUsage
	exitFailed = cli.ExitServer
)

// newRootCommand returns the golog command with its subcommands: agent, certs, and
// the extra ones given, which are added as they are.
func newRootCommand(extra ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:   "golog",
		Short: "golog: a distributed commit log",
		Long: `golog is a commit log replicated with Raft across a cluster of servers, served over
gRPC with mutual TLS and over an HTTP JSON API.

    golog certs init --dir .certs    make the cluster's certificates
    golog agent                      run a server (golog agent --help for its settings)
    golog produce AA BB              append records; golog consume --offset 0 reads them
    golog servers; golog status      the servers, the leader, how far each one lags
    golog health                     whether one server serves (a health check)
    golog lab --nodes 3              a local cluster to break on purpose from its console
    golog bench produce              measure a cluster (golog bench --help), and check it

The client commands find the cluster through --addr (localhost:8400), and use the CA
and the root client certificate of ./.certs when it has them (--ca, --cert, --key).

Exit status: 0 done; 1 a bad command line, setting or file; 2 a write not applied;
3 a write maybe applied; 4 unavailable; 5 not found; 6 denied; 7 the command failed (a
server that cannot start, for one). A server stops gracefully on SIGINT or SIGTERM; a
second signal stops it at once.`,
		Args:          cobra.ArbitraryArgs,
		RunE:          groupRun,
		SilenceErrors: true, // execute prints them
		SilenceUsage:  true, // a failing server needs no usage text
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// The flags' help wrapped to a terminal's width, for every command.
	usage := root.UsageTemplate()
	for _, flags := range []string{".LocalFlags", ".InheritedFlags"} {
		usage = strings.ReplaceAll(usage, flags+".FlagUsages", "("+flags+".FlagUsagesWrapped 100)")
	}
	root.SetUsageTemplate(usage)
	root.AddCommand(newAgentCommand(agentHooks{}).cmd, newCertsCommand(), newLabCommand())
	root.AddCommand(extra...)
	return root
}

// execute runs root with args and returns the exit status. Errors go to stderr, with a
// pointer to the help for usage errors.
func execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	switch {
	case errors.As(err, new(usageError)), errors.As(err, new(*cli.UsageError)):
		fmt.Fprintf(stderr, "see '%s --help'\n", cmd.CommandPath())
		return exitUsage
	case errors.As(err, new(*client.Error)):
		return cli.ExitCode(err)
	default:
		return exitFailed
	}
}

// usageError is an error in the command line or the settings: the operator's to fix,
// with the help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// noArgs accepts no arguments, only flags.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", args[0])}
	}
	return nil
}

// groupRun, with cobra.ArbitraryArgs, makes a command that only groups others (golog,
// golog certs) show its help when called alone, and a usage error, with suggestions,
// when called with an unknown subcommand. (Cobra would show the help for both, and
// exit 0.)
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default
	}
	if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += "; did you mean " + strings.Join(suggestions, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}
