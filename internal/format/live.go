package format

import "sort"

// Live tells the events still in a stream from those a value holds after
// they left it (a format 2 run is deleted only once none of its events is
// live): an event is live when it is pending (above SealedThrough) or in
// an in-flight batch (Batch.Holds). Built from the batch records, which
// are few, it costs nothing per event.
type Live struct {
	sealed  uint64
	batches []*Batch // ascending First
	overlap bool     // some ranges overlap (damage): no binary search
}

// NewLive returns the live set of a stream whose SealedThrough is sealed
// and whose in-flight batches are batches (any order; not copied, not
// changed). Ranges that overlap (only damage makes them) are allowed: an
// event is live when any batch holds it.
func NewLive(sealed uint64, batches []*Batch) *Live {
	l := &Live{sealed: sealed, batches: append([]*Batch(nil), batches...)}
	sort.Slice(l.batches, func(i, j int) bool { return l.batches[i].First < l.batches[j].First })
	for i := 1; i < len(l.batches); i++ {
		l.overlap = l.overlap || l.batches[i].First <= l.batches[i-1].Last
	}
	return l
}

// Has reports whether event seq is live.
func (l *Live) Has(seq uint64) bool {
	return seq > l.sealed || l.inBatch(seq)
}

// inBatch reports whether an in-flight batch holds event seq.
func (l *Live) inBatch(seq uint64) bool {
	if l.overlap {
		for _, b := range l.batches {
			if b.Holds(seq) {
				return true
			}
		}
		return false
	}
	i := sort.Search(len(l.batches), func(i int) bool { return l.batches[i].Last >= seq })
	return i < len(l.batches) && l.batches[i].Holds(seq)
}

// AnyIn reports whether an event in [first, last] is live, taking every
// sequence number in it as held by a value (as for the range of one
// value).
func (l *Live) AnyIn(first, last uint64) bool {
	if last > l.sealed {
		return true
	}
	i := 0
	if !l.overlap {
		i = sort.Search(len(l.batches), func(i int) bool { return l.batches[i].Last >= first })
	}
	for ; i < len(l.batches) && l.batches[i].First <= last; i++ {
		b := l.batches[i]
		if b.Last < first {
			continue // before the range (only when ranges overlap)
		}
		lo, hi := max(first, b.First), min(last, b.Last)
		// Holes are disjoint and do not touch: [lo, hi] is out of the
		// batch only if one hole holds all of it.
		if !b.sameHole(lo, hi) {
			return true
		}
	}
	return false
}

// sameHole reports whether one hole holds all of [lo, hi].
func (b *Batch) sameHole(lo, hi uint64) bool {
	h := b.Holes
	i := sort.Search(len(h)/2, func(i int) bool { return h[2*i+1] >= lo })
	return i < len(h)/2 && h[2*i] <= lo && h[2*i+1] >= hi
}

// FirstLive moves cur to the first live event at or above from and at or
// below to (0: no bound) and reports whether there is one.
func (l *Live) FirstLive(cur *EventCursor, from, to uint64) bool {
	for ok := cur.Seek(from); ok; ok = cur.Next() {
		if to != 0 && cur.Seq() > to {
			return false
		}
		if l.Has(cur.Seq()) {
			return true
		}
	}
	return false
}

// OldestLive returns what the OldestNanos counter holds (0 when no event
// is live), and the runs that still hold a live event. In a format 2 file,
// which keeps no runs (runs is nil), that is the first live event's
// enqueue time. In a format 1 file it is the earliest of that and the time
// of the first live event in each of the stream's requeued runs (see
// wal/doc.go, "Counters").
func (l *Live) OldestLive(cur *EventCursor, runs []RequeuedRun) (int64, []RequeuedRun) {
	if !l.FirstLive(cur, 0, 0) {
		return 0, nil
	}
	oldest := cur.Value().Time(cur.Index())
	kept := runs[:0:0]
	for _, r := range runs {
		if !l.FirstLive(cur, r.First, r.Last) {
			continue
		}
		kept = append(kept, r)
		oldest = min(oldest, cur.Value().Time(cur.Index()))
	}
	return oldest, kept
}
