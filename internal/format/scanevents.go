package format

// walkEvents walks the events bucket: each event a value holds is in a
// counted batch, pending (above SealedThrough), garbage (not live, in a
// value that holds a live one: skipped) or in a stray value; it counts the
// pending ones and the oldest time, and in a format 1 file checks the
// requeued runs against the requeued events and finds the runs they form.
// The oldest time is the first event's, or in a format 1 file a requeued
// event's when older (wal/doc.go, "Counters").
func (sc *Scan) walkEvents(ids idSet) {
	sealed := sc.Counted.SealedThrough
	var strays bool // strayFrom..strayTo are strays not yet listed
	var strayFrom, strayTo uint64
	flush := func() {
		if strays {
			sc.add(Finding{Part: PartEvents, Flaw: FlawStrays, Seq: strayFrom, First: strayFrom, Last: strayTo},
				"events %d..%d are at or below SealedThrough %d but in no batch", strayFrom, strayTo, sealed)
			strays = false
		}
	}
	var runs *runCheck // format 1 only
	if !sc.events.Runs {
		runs = sc.newRunCheck()
	}
	first := true
	var seen bool // a value came before, its last event end
	var end uint64
	c := sc.events.Bucket.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		key, ok := sc.recordKey(PartEvents, k, v)
		if !ok {
			continue
		}
		val := sc.events.value(c, key, v)
		sc.maxEvent = max(sc.maxEvent, val.Last())
		if seen && key <= end {
			// Values never overlap: this one's events are not read.
			sc.add(Finding{Part: PartEvents, Flaw: FlawKeyInValue, Seq: key},
				"value at %d (events %d..%d) overlaps the value before it, whose events reach %d", key, key, val.Last(), end)
			continue
		}
		seen, end = true, val.Last()
		sc.Events += int64(val.Len())
		stray := !sc.live.AnyIn(val.Key, val.Last())
		reported := false // a damaged run is one finding
		for i := range val.Len() {
			seq := val.Key + uint64(i)
			inBatch := sc.live.inBatch(seq)
			live := inBatch || seq > sealed
			if !live && !stray {
				continue // garbage
			}
			t, requeued := val.Time(i), val.IsRequeued(i)
			if first {
				sc.Counted.OldestNanos, first = t, false
			} else if requeued && runs != nil {
				sc.Counted.OldestNanos = min(sc.Counted.OldestNanos, t)
			}
			if runs != nil {
				runs.event(seq, t, requeued)
			}
			r, err := val.Event(i)
			n := uint64(len(r.Payload))
			switch {
			case err == nil:
				sc.checkID(ids, PartEvents, seq, r.ID)
			case val.Err() == nil:
				n = val.StoredBytes(i)
				sc.add(Finding{Part: PartEvents, Flaw: FlawCorrupt, Seq: seq}, "%v", err)
			default:
				n = val.StoredBytes(i)
				if !reported {
					reported = true
					sc.add(Finding{Part: PartEvents, Flaw: FlawCorrupt, Seq: seq}, "%v (events %d..%d)", val.Err(), val.Key, val.Last())
				}
			}
			switch {
			case inBatch:
				// In flight: ScanBatches counted it.
			case stray:
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
	}
	flush()
	if runs != nil {
		runs.end()
	}
}
