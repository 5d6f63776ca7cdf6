package format

import (
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/storetx"
)

func init() { storetx.SetMigration(migrateStreams) }

// migrateStreams rewrites what every stream of tx's file holds from format
// version from to version to, inside the transaction that records the new
// version (see store's migrateMeta): from 1 to 2, it drops the requeued
// runs (DropRequeuedRuns), with the state records still in format 1's
// layout, then rewrites the state records in format 2's (RewriteStates).
// Every change a migration makes to the streams goes here, in one step, so
// that store runs them all in its transaction.
func migrateStreams(tx *bolt.Tx, from, to uint64) error {
	if err := DropRequeuedRuns(tx, from, to); err != nil {
		return err
	}
	return RewriteStates(tx, from, to)
}

// DropRequeuedRuns is migrateStreams' part for the requeued runs: from
// format 1 to 2 it deletes each stream's "requeued" runs
// record, which format 2 neither writes nor reads, and sets OldestNanos by
// format 2's rule (the first live event's enqueue time; see wal/doc.go,
// "Counters"); nothing else changes, so the migration stays one
// transaction whose cost grows with the streams and their in-flight
// batches, not with the backlog. A stream whose state record does not
// decode keeps its record and counter as they are, for Verify and Repair.
func DropRequeuedRuns(tx *bolt.Tx, from, to uint64) error {
	if from >= 2 || to < 2 {
		return nil
	}
	streams, err := RawStreams(tx)
	if err != nil {
		return err
	}
	for _, rs := range streams {
		if rs.Requeued == nil {
			continue // no requeued event: OldestNanos is the first live event's already
		}
		st, err := DecodeState(from, rs.State)
		if err != nil || len(rs.UID) != 8 || rs.Events == nil || rs.Batches == nil {
			continue // damaged: Verify reports it, Repair rebuilds it
		}
		if err := rs.Bucket.Delete(KeyRequeued); err != nil {
			return err
		}
		ev := Events{Bucket: rs.Events, UID: [8]byte(rs.UID), Runs: true, Last: max(st.NextSeq, 1) - 1}
		oldest, _ := NewLive(st.SealedThrough, ScanBatches(ev, rs.Batches).Counted).OldestLive(ev.Cursor(), nil)
		if oldest != st.OldestNanos {
			st.OldestNanos = oldest
			if err := rs.Bucket.Put(KeyState, st.Encode(from)); err != nil { // RewriteStates brings it to the new layout
				return err
			}
		}
	}
	return nil
}
