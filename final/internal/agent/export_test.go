package agent

import "github.com/hashicorp/serf/serf"

// GossipMembers returns the gossip members as this agent sees them, in random order:
// the tests check which servers the leader believes failed.
func (a *Agent) GossipMembers() []serf.Member { return a.membership.Members() }
