package consensus

import (
	"sync"

	"github.com/hashicorp/raft"
)

// leadershipObservations is the buffer between raft and the goroutine of
// LeadershipChanges. raft drops an observation when the buffer is full rather than
// wait; the goroutine only moves values on, so it never falls this far behind.
const leadershipObservations = 16

// LeadershipChanges tells when this server becomes the leader (true) and when it stops
// being the leader (false). The first value is whether it leads at the time of the
// call; after that a value comes only when that changes.
//
// The channel holds the latest value only: a receiver that falls behind misses the
// changes in between, never the latest state, so it can act on what it receives (a
// new leader reconciles the cluster's membership, for instance) without replaying a
// history. The state may have changed again by the time the value is received.
//
// Call stop when done: it stops the notifications and waits for the goroutine behind
// them; the channel is not closed. Several callers may each have their own channel.
func (d *DistributedLog) LeadershipChanges() (changes <-chan bool, stop func()) {
	observations := make(chan raft.Observation, leadershipObservations)
	observer := raft.NewObserver(observations, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	// Registered before the current state is read, so that no change falls between the
	// two.
	d.raft.RegisterObserver(observer)

	out := make(chan bool, 1)
	done := make(chan struct{})
	finished := make(chan struct{})
	local := d.config.Raft.LocalID
	go func() {
		defer close(finished)
		_, leaderID := d.raft.LeaderWithID()
		leading := leaderID == local
		out <- leading // the buffer is empty: this does not block
		for {
			select {
			case o := <-observations:
				now := o.Data.(raft.LeaderObservation).LeaderID == local
				if now == leading {
					continue // another server took over, or an election started
				}
				leading = now
				// Replace an unread value with the latest. Only this goroutine sends,
				// so after the drain the send cannot block.
				select {
				case <-out:
				default:
				}
				out <- leading
			case <-done:
				return
			}
		}
	}()
	stop = sync.OnceFunc(func() {
		d.raft.DeregisterObserver(observer)
		close(done)
		<-finished
	})
	return out, stop
}
