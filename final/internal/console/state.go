package console

import "time"

// The JSON documents of the console. Their field names are the API: the page reads
// them, and tests and scripts may too (GET /api/ui/state, GET /api/ui/cluster and the
// stream GET /api/ui/events). Add fields; do not rename or remove them.

// ServerState is one server's view of itself, as GET /api/ui/state answers it. Every
// server serves its own; the console of any server gathers the others' to show the
// whole cluster.
type ServerState struct {
	Name     string `json:"name"`
	HTTPAddr string `json:"http_addr,omitempty"`
	RPCAddr  string `json:"rpc_addr"`
	BindAddr string `json:"bind_addr"`

	// Role is "leader", "follower", "candidate" or "shutdown" (Raft's state, §5.1).
	Role string `json:"role"`
	Term uint64 `json:"term"`
	// Leader is the name of the leader this server knows; empty during an election.
	Leader string `json:"leader"`
	// The Raft log: the newest entry this server has, the newest it knows committed
	// (§5.3), and the newest applied to its records.
	LastIndex    uint64 `json:"last_index"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	// SnapshotIndex is the Raft index of its newest snapshot (§7); 0 for none.
	SnapshotIndex uint64 `json:"snapshot_index"`
	// The records it serves are [LowestOffset, NextOffset): NextOffset is the log end
	// offset, the offset the next record will get; LowestOffset rises with retention.
	LowestOffset uint64 `json:"lowest_offset"`
	NextOffset   uint64 `json:"next_offset"`
	// Ready is false until the server has caught up after its start; until then it
	// serves no reads.
	Ready bool `json:"ready"`
	// LastContactMillis is, on a follower, how long ago it last heard from the leader,
	// measured on its own clock; null on the leader and before any contact.
	LastContactMillis *int64 `json:"last_contact_ms"`
	// Vote is the newest vote this server granted, as Raft keeps it on disk (§5.2);
	// null if it never voted.
	Vote *Vote `json:"vote"`
	// Cut is true while lab mode has cut this server off from the others.
	Cut bool `json:"cut,omitempty"`
	// Time is when the state was taken, on this server's clock.
	Time time.Time `json:"time"`
	// Events are the newest things this server saw happen, oldest first; left out
	// when there are none, and in a ServerRow (ClusterState.Events has them all).
	Events []Event `json:"events,omitempty"`
}

// Vote is a vote granted: in term Term, to candidate For (a server's name, or its
// address when the name is not known).
type Vote struct {
	Term uint64 `json:"term"`
	For  string `json:"for"`
}

// Event kinds: what an Event reports. Each is seen by the server named in the event,
// and only what that server can see: a vote request is seen by the voter, a failed
// heartbeat by the leader.
const (
	EventState           = "state"             // this server became follower, candidate or leader
	EventLeader          = "leader"            // the leader it knows changed, or it knows none
	EventVoteRequest     = "vote-request"      // a candidate asked it for its vote (§5.2)
	EventPreVoteRequest  = "pre-vote-request"  // a candidate asked whether it would vote, before an election
	EventVote            = "vote"              // it granted its vote (as stored on disk)
	EventPeerAdded       = "peer-added"        // the leader started replicating to a server
	EventPeerRemoved     = "peer-removed"      // the leader stopped replicating to a server
	EventHeartbeatFailed = "heartbeat-failed"  // the leader could not reach a follower
	EventHeartbeatBack   = "heartbeat-resumed" // it could again
	EventJoin            = "join"              // gossip: a server joined, came back, or changed its tags
	EventLeave           = "leave"             // gossip: a server left gracefully
	EventFailed          = "failed"            // gossip: a server stopped answering, or was forgotten
	EventSnapshot        = "snapshot"          // it took or installed a snapshot
	EventRetention       = "retention"         // retention removed its oldest records
	EventLab             = "lab"               // lab mode cut it off, or healed it
)

// Event is one thing a server saw happen.
type Event struct {
	Time time.Time `json:"time"`
	// Server is who saw it.
	Server string `json:"server"`
	Kind   string `json:"kind"`
	// Term is the Raft term it happened in, when it has one.
	Term uint64 `json:"term,omitempty"`
	// Peer is the other server concerned, if any: the candidate, the new leader, the
	// server that joined.
	Peer string `json:"peer,omitempty"`
	// Text says it in a sentence.
	Text string `json:"text"`
}

// ClusterState is the whole cluster as one server's console shows it: what the
// stream GET /api/ui/events sends on every change, and GET /api/ui/cluster answers.
type ClusterState struct {
	// ServedBy is the server that gathered this state and serves the page.
	ServedBy string    `json:"served_by"`
	Time     time.Time `json:"time"`
	// Leader and Term: the leader with the highest term among the servers that answered
	// and say they lead; empty and 0 when none does.
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	// Servers are every server known from gossip or from the Raft configuration, by name.
	Servers []ServerRow `json:"servers"`
	// Events are the newest events of every server that answered, merged by time,
	// oldest first.
	Events []Event `json:"events"`
	// Records are the newest records of ServedBy's log, oldest first.
	Records []Record `json:"records"`
	// Lab is set in lab mode only: the page then shows the lab's buttons.
	Lab *LabState `json:"lab"`
}

// ServerRow is one server in a ClusterState.
type ServerRow struct {
	Name     string `json:"name"`
	HTTPAddr string `json:"http_addr,omitempty"`
	RPCAddr  string `json:"rpc_addr,omitempty"`
	BindAddr string `json:"bind_addr,omitempty"`
	// Up is true when the server answered with its state just now.
	Up bool `json:"up"`
	// Error says why it did not answer, when it did not.
	Error string `json:"error,omitempty"`
	// Gossip is its status in the serving server's gossip view: "alive", "leaving",
	// "left", "failed", or "unknown" when gossip does not know it.
	Gossip string `json:"gossip"`
	// Voter is true when it is in the Raft configuration the serving server knows.
	Voter bool `json:"voter"`
	// State is what it answered, without its events; null when it did not.
	State *ServerState `json:"state"`
	// LagEntries is how many Raft entries it has applied fewer than the leader has
	// (leader's last_index minus its applied_index), and LagRecords how many records it
	// has fewer than the leader (next_offset); null when either state is unknown.
	LagEntries *uint64 `json:"lag_entries"`
	LagRecords *uint64 `json:"lag_records"`
	// Process is, in lab mode, the lab supervisor's view of its process.
	Process *LabProcess `json:"process,omitempty"`
}

// Record is a record of the log as the console shows it.
type Record struct {
	Offset uint64 `json:"offset"`
	// Value is the record's bytes as text, or as base64 when Encoding is "base64"
	// (bytes that are not UTF-8 text), cut to MaxValueBytes.
	Value     string `json:"value"`
	Encoding  string `json:"encoding"`
	Truncated bool   `json:"truncated,omitempty"`
}

// LabState is what lab mode adds to a ClusterState.
type LabState struct {
	// Supervisor is false when lab mode runs without a supervisor: the page can cut
	// servers off, but not stop or restart them. Error says why the supervisor did not
	// answer, if it did not.
	Supervisor bool   `json:"supervisor"`
	Error      string `json:"error,omitempty"`
}

// LabProcess is one server's process, as the lab supervisor reports it.
type LabProcess struct {
	// State is "starting", "running", "paused", "stopping", "stopped" (by SIGTERM),
	// "killed" (by SIGKILL) or "exited" (by itself).
	State string `json:"state"`
	PID   int    `json:"pid,omitempty"`
}
