// Package lab is lab mode: a local cluster that a teacher can break on purpose, from
// the cluster console, so that a room can watch Raft recover. It stops, kills, pauses,
// resumes and restarts servers, and cuts a server off from the others and heals it.
//
// # The parts
//
//	browser ── POST /api/lab/nodes/NAME/ACTION ──> any agent (Mode)
//	                                                   │ passes it on
//	                                                   v
//	                                   golog lab (Supervisor): the servers' parent
//	                  stop, kill, pause, resume,       │        cut, heal
//	                  restart: signals, exec           │        POST /api/lab/link
//	                                                   v
//	                                        node-N (Mode, Link)
//
// A Supervisor (the golog lab command, which ./run.sh --lab runs) starts the servers as
// its child processes, so it knows their process IDs and command lines; each agent in
// lab mode tells it where it serves (Registration), so a restarted server comes back
// on the same addresses. A server cannot cut itself off from outside its process: the
// Link is a switch inside each agent, wired into its gossip transport, its Raft dialer
// and its RPC listener, that the supervisor flips through the agent's lab endpoint.
//
// # Safety
//
// Lab mode is off unless asked for (golog agent --lab), and only the agents started with
// it serve PathPrefix; the console of a normal agent has no button that changes
// anything. When it is on:
//
//   - every address must be loopback: the agent refuses to start in lab mode unless its
//     HTTP, RPC, gossip, advertised and join addresses and its supervisor's are (the
//     Supervisor likewise refuses a listener or host off loopback, and registrations
//     that name other addresses);
//   - every action is a POST with the header X-Golog-Lab: 1, to a loopback Host, from the
//     page's own origin if the browser names one: a page of another site cannot forge it
//     (the header needs a CORS pre-flight that is never answered), and neither can a
//     DNS name that rebinds to 127.0.0.1;
//   - the Link lives in the agent only in lab mode; without it, nothing is wrapped.
package lab
