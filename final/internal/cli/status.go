package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"golog/client"
)

// NewStatusCommand returns `golog status`: every server's Raft state and how far it
// lags the leader.
func NewStatusCommand(opts *ClientOptions) *cobra.Command {
	format := formatFlag{value: "text"}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the leader, the term, and how far each server lags",
		Long: `Ask every server of the cluster for its status and show the leader, the term, the
leader's commit and applied Raft indexes, and for each server: its state, term, commit
and applied index, its lag (how many Raft entries it has applied fewer than the
leader), how long ago it last heard from the leader, and whether it serves reads yet.
A server that does not answer is shown with the reason.

With --format json, each server is a JSON object on a line.

It fails (exit code 4) only if no server answers.` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			return opts.run(cmd.Context(), true, func(ctx context.Context, c *client.Client) error {
				statuses, err := c.Status(ctx)
				if err != nil {
					return err
				}
				now := time.Now()
				out := cmd.OutOrStdout()
				if format.value == "json" {
					err = writeStatusJSON(out, statuses, now)
				} else {
					err = writeStatusText(out, statuses, now)
				}
				if err != nil {
					return err
				}
				return noneAnswered(statuses)
			})
		},
	}
	setUp(cmd, opts)
	cmd.Flags().Var(&format, "format", "output format: text or json")
	return cmd
}

// noneAnswered returns the error of the first server if no server answered.
func noneAnswered(statuses []client.ServerStatus) error {
	for _, st := range statuses {
		if st.Err == nil {
			return nil
		}
	}
	if len(statuses) == 0 {
		return errors.New("the cluster has no servers")
	}
	return statuses[0].Err
}

// leaderOf returns the status of the server that says it leads, and false if none
// answered so.
func leaderOf(statuses []client.ServerStatus) (client.ServerStatus, bool) {
	for _, st := range statuses {
		if st.Err == nil && st.State == "Leader" {
			return st, true
		}
	}
	return client.ServerStatus{}, false
}

// lag returns how many Raft entries st has applied fewer than the leader.
func lag(st, leader client.ServerStatus) uint64 {
	if st.AppliedIndex >= leader.AppliedIndex {
		return 0
	}
	return leader.AppliedIndex - st.AppliedIndex
}

func writeStatusText(out io.Writer, statuses []client.ServerStatus, now time.Time) error {
	leader, hasLeader := leaderOf(statuses)
	if hasLeader {
		fmt.Fprintf(out, "leader %s (%s), term %d, commit index %d, applied index %d\n",
			leader.ID, leader.Addr, leader.Term, leader.CommitIndex, leader.AppliedIndex)
	} else {
		fmt.Fprintln(out, "no leader: an election is in progress, or too few servers are up")
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tSTATE\tTERM\tCOMMIT\tAPPLIED\tLAG\tLAST CONTACT\tREADY")
	for _, st := range statuses {
		if st.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\tunreachable: %v\n", st.ID, st.Addr, st.Err)
			continue
		}
		lagText, contact, ready := "-", "-", "no"
		if hasLeader {
			lagText = strconv.FormatUint(lag(st, leader), 10)
		}
		if !st.LastContact.IsZero() {
			contact = now.Sub(st.LastContact).Round(time.Millisecond).String()
		}
		if st.Ready {
			ready = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n",
			st.ID, st.Addr, st.State, st.Term, st.CommitIndex, st.AppliedIndex, lagText, contact, ready)
	}
	return tw.Flush()
}

// jsonStatus is a server's status as --format json prints it.
type jsonStatus struct {
	ID           string  `json:"id"`
	Addr         string  `json:"addr"`
	Error        string  `json:"error,omitempty"`
	State        string  `json:"state,omitempty"`
	Leader       bool    `json:"leader"`
	Term         uint64  `json:"term,omitempty"`
	CommitIndex  uint64  `json:"commit_index,omitempty"`
	AppliedIndex uint64  `json:"applied_index,omitempty"`
	Lag          *uint64 `json:"lag,omitempty"`
	// LastContactSeconds is how long ago a follower last heard from the leader.
	LastContactSeconds *float64 `json:"last_contact_seconds,omitempty"`
	Ready              bool     `json:"ready"`
	LowestOffset       uint64   `json:"lowest_offset"`
	NextOffset         uint64   `json:"next_offset"`
}

func writeStatusJSON(out io.Writer, statuses []client.ServerStatus, now time.Time) error {
	leader, hasLeader := leaderOf(statuses)
	for _, st := range statuses {
		j := jsonStatus{ID: st.ID, Addr: st.Addr, Leader: st.State == "Leader"}
		if st.Err != nil {
			j.Error = st.Err.Error()
		} else {
			j.State, j.Term, j.CommitIndex, j.AppliedIndex = st.State, st.Term, st.CommitIndex, st.AppliedIndex
			j.Ready, j.LowestOffset, j.NextOffset = st.Ready, st.LowestOffset, st.NextOffset
			if hasLeader {
				l := lag(st, leader)
				j.Lag = &l
			}
			if !st.LastContact.IsZero() {
				s := now.Sub(st.LastContact).Seconds()
				j.LastContactSeconds = &s
			}
		}
		if err := writeJSON(out, j); err != nil {
			return err
		}
	}
	return nil
}
