package consensus

import (
	"cmp"
	"time"

	"github.com/hashicorp/raft"

	"golog/internal/storage"
)

// retain applies the retention policy (Config.Retention) while this server leads: every
// CheckInterval it works out the lowest offset to keep and, if that removes anything,
// proposes a truncateCommand, so that every server removes the same records. It returns
// when Close is called.
func (d *DistributedLog) retain() {
	policy := d.config.Retention
	if policy.MaxBytes == 0 && policy.MaxAge == 0 {
		return
	}
	ticker := time.NewTicker(cmp.Or(policy.CheckInterval, defaultRetentionInterval))
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
		case <-d.stop:
			return
		}
		if d.raft.State() != raft.Leader {
			continue
		}
		lowest := retentionPoint(d.data.Segments(), policy, time.Now(), d.segmentTime)
		if lowest <= d.fsm.lowest.Load() {
			continue
		}
		d.logger.Info("retention: removing old records", "lowest", lowest)
		if err := d.raft.Apply(encodeTruncate(lowest), d.timeout).Error(); err != nil {
			d.logger.Warn("retention: propose the removal", "lowest", lowest, "err", err)
		}
	}
}

// segmentTime returns the time of the newest record of segment s, or false if it
// cannot be read.
func (d *DistributedLog) segmentTime(s storage.SegmentFile) (time.Time, bool) {
	if s.Next == s.Base {
		return time.Time{}, false
	}
	r, err := d.data.Read(s.Next - 1)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, r.TimeUnixNano), true
}

// retentionPoint returns the offset from which policy keeps the records of segments
// (oldest first, the last one being written): the base of the oldest segment kept. It
// removes whole segments only, the oldest first, never the last: it keeps the newest
// segments that hold at most MaxBytes together (and the last, whatever its size), and
// of those, drops the oldest whose newest record is older than MaxAge. newest says when
// a segment's newest record was written.
func retentionPoint(segments []storage.SegmentFile, policy Retention, now time.Time,
	newest func(storage.SegmentFile) (time.Time, bool)) uint64 {
	if len(segments) == 0 {
		return 0
	}
	keep := 0 // the first segment kept
	if policy.MaxBytes > 0 {
		var total uint64
		for i := len(segments) - 1; i >= 0; i-- {
			total += segments[i].Size
			if total > policy.MaxBytes && i < len(segments)-1 {
				keep = i + 1
				break
			}
		}
	}
	if policy.MaxAge > 0 {
		for keep < len(segments)-1 {
			t, ok := newest(segments[keep])
			if !ok || now.Sub(t) <= policy.MaxAge {
				break
			}
			keep++
		}
	}
	return segments[keep].Base
}
