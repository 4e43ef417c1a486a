package cli

import (
	"github.com/spf13/cobra"
)

// exitCodesHelp ends the long help of every client command.
const exitCodesHelp = `

Exit codes: 0 done; 1 a usage error; 2 a write failed and is not in the log; 3 a write
failed and may be in the log; 4 no server could be reached or could answer in time;
5 no record at the offset; 6 the certificate or the ACL refused the client; 7 another
error of the servers.`

// setUp gives cmd the shared client flags and the behaviour every client command has:
// a flag error is a UsageError, and a failure does not print the usage (the error
// says what went wrong; --help shows the usage).
func setUp(cmd *cobra.Command, opts *ClientOptions) {
	opts.addFlags(cmd.Flags())
	cmd.SilenceUsage = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &UsageError{Err: err}
	})
	if cmd.Args == nil {
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
			}
			return nil
		}
	}
}
