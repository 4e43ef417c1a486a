// Package console is the cluster console: a web page, served by every agent on its
// HTTP address at /ui/, that shows the cluster live, for operators and for learners
// alike. Its files are embedded (static/): no build step, no framework.
//
// # What it shows, and where each part comes from
//
//	each server        its own Status (role, term, indexes, offsets, last contact) and
//	                   the vote Raft stored on its disk, served as GET /api/ui/state;
//	                   the console of one server gathers the others' over HTTP, at the
//	                   address each gossips in the http_addr tag
//	who is up          whether a server answered just now, and its gossip status
//	lag                the leader's last index and next offset minus the server's
//	the timeline       each server's Recorder: raft's observations (state changes,
//	                   leaders, vote requests, peers and failed heartbeats, the last
//	                   two on the leader only), gossip's joins, leaves and failures,
//	                   and changes seen by polling (votes granted, snapshots,
//	                   retention); merged by time
//	the records        the newest records of the serving server's log
//
// The page reads one stream, GET /api/ui/events: a server-sent event "state" with a
// ClusterState every 250 ms or so, gathered while the stream is open. GET
// /api/ui/cluster answers one ClusterState. The page writes records through the HTTP
// API (POST /), as any client would; the console itself serves GET only, and the page's
// Content-Security-Policy allows no script but its own and no connection but to its
// own server. The page puts every value it shows into the document as text, never as
// markup.
//
// The gathering is honest about what it cannot see: a server that does not answer
// within peerTimeout is shown down with the reason, and what gossip and the Raft
// configuration say of it. Each server's HTTP address must be reachable from the
// others: on one machine it is; across machines the HTTP API is on loopback by
// default, and then each console shows the others from gossip and Raft only.
package console
