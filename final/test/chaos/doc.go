// Package chaos holds the chaos suite: a real golog cluster, each server a Docker
// container with its own address on a private network, under a workload of producers
// and consumers while faults drawn from a printed seed hit it: kill -9 of the leader
// or of a follower, pause and resume, a server cut off from the network (the leader,
// or a follower: a 2/1 split), a partition into a minority and a majority that each
// still talk within themselves (3/2 on five servers; iptables in the minority's
// network namespaces, set from the host), graceful and rolling restarts with the data
// kept, and damage to a minority's newest files before a restart. After the faults heal, the
// recorded history and every server's log go through the checks of package history,
// and a summary table is printed.
//
// It needs a Docker engine and the image golog:dev (make docker), and runs as root: the
// data directories must belong to the image's user, and a partition enters the
// containers' network namespaces with the host's nsenter and iptables. `make chaos`
// builds the image and runs it. Plain `go test ./...` skips it, saying why.
//
// Everything it creates (containers, the network, data directories) carries a prefix
// unique to the run, gologchaos-<pid>-<random>, and is removed when the test ends,
// except, when a check fails, what is needed to see why: the history (JSON), porcupine's
// HTML view of it and each server's log, kept in a directory the test prints.
package chaos
