package bench

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"slices"

	"golog/client"
)

// A RecordSource reads the log from an offset on, in order, as client.Client.Follow
// does; verification reads through one so that its tests can feed it wrong answers.
type RecordSource func(ctx context.Context, from uint64) iter.Seq2[client.Record, error]

// followSource reads with c.Follow, linearizable: the first read reflects every
// record acknowledged before it.
func followSource(c *client.Client) RecordSource {
	return func(ctx context.Context, from uint64) iter.Seq2[client.Record, error] {
		return c.Follow(ctx, from, client.Linearizable)
	}
}

// verifyProduced checks what the workers of a produce run were answered, then reads
// the log back through c.
func verifyProduced(ctx context.Context, c *client.Client, s Settings, workers []*worker) (string, error) {
	perClient := make([][]ack, len(workers))
	for i, w := range workers {
		perClient[i] = w.acks
	}
	return Verify(ctx, followSource(c), s.Nonce, s.Size, perClient)
}

// Verify checks a produce run: perClient holds, for each client, its acknowledged
// records in the order it sent them. It checks that no offset was given twice nor any
// record acknowledged twice, that each client's records have increasing offsets (a
// client sends a record only after the previous one is acknowledged, or on one
// ordered stream, so a later record must be later in the log), then reads the log
// from the lowest offset through read and checks that each acknowledged record is at
// its offset with its own bytes. Records of other writers between them are skipped
// and counted. It returns what it checked.
func Verify(ctx context.Context, read RecordSource, nonce uint64, size int, perClient [][]ack) (string, error) {
	var all []ack
	for i, acks := range perClient {
		for j := 1; j < len(acks); j++ {
			if acks[j].offset <= acks[j-1].offset {
				return "", fmt.Errorf("client %d: record %d was acknowledged at offset %d, not after record %d sent before it (offset %d)",
					i, acks[j].index, acks[j].offset, acks[j-1].index, acks[j-1].offset)
			}
		}
		all = append(all, acks...)
	}
	if len(all) == 0 {
		return "nothing was acknowledged", nil
	}
	slices.SortFunc(all, func(a, b ack) int { return cmp.Compare(a.offset, b.offset) })
	for i := 1; i < len(all); i++ {
		if all[i].offset == all[i-1].offset {
			return "", fmt.Errorf("offset %d was given to records %d and %d", all[i].offset, all[i-1].index, all[i].index)
		}
	}
	seen := make(map[uint64]bool, len(all))
	for _, a := range all {
		if seen[a.index] {
			return "", fmt.Errorf("record %d was acknowledged twice", a.index)
		}
		seen[a.index] = true
	}
	foreign, err := readBack(ctx, read, &Checker{Nonce: nonce, Size: size}, all)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d acknowledged records read back at their offsets %d to %d, in order, each with its own bytes "+
		"(%d records of other writers between them)", len(all), all[0].offset, all[len(all)-1].offset, foreign), nil
}

// readBack reads the log from want[0].offset on and checks that record want[i].index
// is at want[i].offset, for every i (want is sorted by offset). It returns how many
// records it skipped that are not in want.
func readBack(ctx context.Context, read RecordSource, check *Checker, want []ack) (foreign int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the reading
	i := 0
	next := want[0].offset
	for rec, err := range read(ctx, want[0].offset) {
		if err != nil {
			return foreign, fmt.Errorf("read back from offset %d: %w", next, err)
		}
		if rec.Offset != next {
			return foreign, fmt.Errorf("read back: offset %d came where %d was due", rec.Offset, next)
		}
		next++
		w := want[i] // w.offset >= rec.Offset: offsets come one by one
		if rec.Offset < w.offset {
			foreign++
			continue
		}
		if err := check.Check(w.index, rec.Value); err != nil {
			return foreign, fmt.Errorf("read back: offset %d: %w", rec.Offset, err)
		}
		if i++; i == len(want) {
			return foreign, nil
		}
	}
	return foreign, fmt.Errorf("read back: the log ended at offset %d; record %d was acknowledged at offset %d",
		next, want[i].index, want[i].offset)
}
