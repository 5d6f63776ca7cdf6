package format

import (
	bolt "go.etcd.io/bbolt"
)

// walkEvents walks the events bucket: each event is in a counted batch,
// pending (above SealedThrough) or a stray; it counts the pending ones and
// the oldest time, checks the requeued runs against the requeued events,
// and finds the runs they form.
func (sc *Scan) walkEvents(events *bolt.Bucket, ids idSet) {
	sealed := sc.Counted.SealedThrough
	batches := sc.Batches.Counted
	var strays bool // strayFrom..strayTo are strays not yet listed
	var strayFrom, strayTo uint64
	flush := func() {
		if strays {
			sc.add(Finding{Part: PartEvents, Flaw: FlawStrays, Seq: strayFrom, First: strayFrom, Last: strayTo},
				"events %d..%d are at or below SealedThrough %d but in no batch", strayFrom, strayTo, sealed)
			strays = false
		}
	}
	runs := sc.newRunCheck()
	j := 0
	first := true
	c := events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := sc.recordKey(PartEvents, k, v)
		if !ok {
			continue
		}
		sc.Events++
		sc.maxEvent = max(sc.maxEvent, seq)
		t, requeued := RecordTime(v), IsRequeued(seq, v)
		if first {
			sc.Counted.OldestNanos, first = t, false
		} else if requeued {
			sc.Counted.OldestNanos = min(sc.Counted.OldestNanos, t)
		}
		runs.event(seq, t, requeued)
		r, err := DecodeRecord(seq, v)
		n := uint64(len(r.Payload))
		if err != nil {
			n = uint64(len(v))
			sc.add(Finding{Part: PartEvents, Flaw: FlawCorrupt, Seq: seq}, "%v", err)
		} else {
			sc.checkID(ids, PartEvents, seq, r.ID)
		}
		for j < len(batches) && batches[j].Last < seq {
			j++
		}
		switch {
		case j < len(batches) && batches[j].First <= seq:
			// In flight: ScanBatches counted it.
		case seq <= sealed:
			if strays && strayTo != seq-1 {
				flush()
			}
			if !strays {
				strays, strayFrom = true, seq
			}
			strayTo = seq
		default:
			flush()
			sc.Counted.PendingCount++
			sc.Counted.PendingBytes += n
		}
	}
	flush()
	runs.end()
}
