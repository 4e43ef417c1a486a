// Package discovery tells each server which other servers are in the cluster and
// where their RPC endpoints are.
//
// # The problem
//
// Servers are started, stopped for upgrades, and crash. Each one needs an
// up-to-date list of its peers, without a central registry that would itself have
// to be kept running, replicated and found. This package keeps that list by gossip:
// every server talks to a few others now and then, and news spreads through the
// whole cluster on its own.
//
// # Gossip membership: Serf and memberlist
//
// Each server runs one Serf node (github.com/hashicorp/serf). Serf is built on
// memberlist (github.com/hashicorp/memberlist), an implementation of the SWIM
// protocol. Every node listens on one address, UDP and TCP on the same port:
//
//   - Join. A new node contacts any existing member, called a seed, over TCP. The two
//     swap their whole member lists (a push/pull sync). From then on the news spreads
//     by gossip: every GossipInterval each node sends its recent updates to a few
//     random members over UDP. Every member hears of a change after about log(N)
//     rounds, and no node talks to all the others.
//   - Failure detection. Every ProbeInterval each node pings one random member. If
//     no ack comes back within ProbeTimeout, it asks a few other members to ping that
//     member for it (an indirect probe), so one bad link does not condemn a node. If
//     they fail too, the member is suspected. The suspicion is gossiped, and a live
//     member that hears it refutes it. A member that stays suspected for the suspicion
//     timeout (a multiple of ProbeInterval) is declared dead.
//   - Leave. A node that shuts down gracefully first gossips that it is leaving, so
//     the others mark it left instead of waiting to find it failed.
//
// Serf adds tags, a few key/value pairs gossiped with each node. Every golog server
// sets RPCAddrTag to the address of its RPC server, which is what its peers need to
// reach it. The gossip address (BindAddr) and the RPC address are different ports.
//
//  1. join: TCP push/pull with the seed
//     +-----------+ <------------------------------- +-----------+
//     | a (seed)  |                                  | c (new)   |
//     | rpc_addr  | -------------------------------> | rpc_addr  |
//     +-----------+    a's member list: {a, b}       +-----------+
//     |                                              ^
//     | 2. gossip over UDP: "c is alive,             | 3. probes: ping, ack
//     |    rpc_addr=..."                             |
//     v                                              |
//     +-----------+ ---------------------------------------+
//     | b         |
//     | rpc_addr  |
//     +-----------+
//
// # Events
//
// Serf reports each change of membership as an event. A Membership turns the events
// about other members into calls on a Handler, one at a time, on a single goroutine:
//
//	Serf event           Handler call          when
//	EventMemberJoin      Join(name, rpc_addr)  a member joined, or came back
//	EventMemberUpdate    Join(name, rpc_addr)  a member's tags changed
//	EventMemberLeave     Leave(name)           a member left gracefully
//	EventMemberFailed    Failed(name)          a member was declared dead
//	EventMemberReap      Failed(name)          a left or dead member was forgotten
//
// Failed is not Leave. A member that leaves has said so: it is gone on purpose. A
// failed member has only stopped answering: a crashed server, a paused one and one
// behind a broken link all look the same from here, and the last two come back, when
// Serf reports them joined again and the Handler sees Join. Nobody should send a
// failed member work, but a handler that does something hard to undo, such as removing
// a voter from a consensus group, can do it on Leave and should not do it on Failed
// alone. A reap goes to Failed too: it says that nobody has heard from the member for
// a long time, not that the member said goodbye.
//
// Events about the local node itself (its own join, its own leave) are not passed on:
// the Handler is told about the other members only.
//
// # Inside a Membership
//
//	memberlist (UDP+TCP) --> Serf --> events chan (buffered) --> event loop --> Handler
//	                                                              goroutine
//
// Serf sends member events while holding its member lock, so a channel that is not
// drained would stall Serf. The channel is buffered and drained by one goroutine,
// which ends when the Membership leaves.
//
// # Timing
//
// Production uses Serf's defaults, which include memberlist.DefaultLANConfig: probe
// every second, wait 500ms for an ack, suspect for a few probe intervals. On one
// machine, a crashed member of a three-member cluster is declared failed after about
// six seconds. A graceful Leave takes about two: Serf waits until its goodbye has been
// gossiped, then keeps answering probes for another second (LeavePropagateDelay) so
// that nobody mistakes it for failed. Tests shorten these timers with Config.Tune.
package discovery
