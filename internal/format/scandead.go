package format

import (
	"strings"

	bolt "go.etcd.io/bbolt"
)

// walkDead walks the dead bucket: it counts the dead letters and checks
// each one's record, its other fields' checksum, and that its key is not
// an event the stream still has (see AlsoEvent).
func (sc *Scan) walkDead(dead *bolt.Bucket, ids idSet) {
	c := dead.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := sc.recordKey(PartDead, k, v)
		if !ok {
			continue
		}
		sc.maxDead = max(sc.maxDead, seq)
		sc.Counted.DeadCount++
		if sc.AlsoEvent(seq) {
			sc.add(Finding{Part: PartDead, Flaw: FlawAlsoEvent, Seq: seq}, "event %d is both pending and a dead letter", seq)
		}
		d, err := DecodeDeadRecord(v)
		if err != nil {
			sc.Counted.DeadBytes += uint64(len(v))
			sc.add(Finding{Part: PartDead, Flaw: FlawUndecodable, Seq: seq}, "%v", err)
			continue
		}
		r, rerr := DecodeRecord(seq, d.Record)
		if rerr != nil {
			sc.Counted.DeadBytes += uint64(len(d.Record))
		} else {
			sc.Counted.DeadBytes += uint64(len(r.Payload))
			sc.checkID(ids, PartDead, seq, r.ID)
		}
		if !d.SumOK() {
			sc.add(Finding{Part: PartDead, Flaw: FlawFieldSum, Seq: seq},
				"dead letter %d: its reason, batch, attempts or time fail their checksum (reason as read: %q)", seq, d.Reason)
			continue
		}
		if rerr != nil && !strings.HasPrefix(d.Reason, "corrupt") {
			sc.add(Finding{Part: PartDead, Flaw: FlawRotten, Seq: seq}, "dead letter (%s): %v", d.Reason, rerr)
		}
	}
}

// walkDone walks the done bucket: it counts the completion records and
// checks each one.
func (sc *Scan) walkDone(done *bolt.Bucket) {
	c := done.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := sc.recordKey(PartDone, k, v)
		if !ok {
			continue
		}
		sc.maxDone = max(sc.maxDone, seq)
		sc.Counted.DoneRecords++
		if _, err := DecodeCompletion(sc.uid, seq, v); err != nil {
			sc.add(Finding{Part: PartDone, Flaw: FlawUndecodable, Seq: seq}, "%v", err)
		}
	}
}

// AlsoEvent reports whether event seq is one the stream still has, so that
// no dead letter may hold its key: a value holds it and it is live, or its
// value is a stray (see ScanStream). An event a value holds after it left
// (garbage, as a dead-lettered event of a run whose other events stay) is
// not.
func (sc *Scan) AlsoEvent(seq uint64) bool {
	if sc.events.Bucket == nil {
		return false
	}
	cur := sc.events.Cursor()
	if !cur.Seek(seq) || cur.Seq() != seq {
		return false
	}
	v := cur.Value()
	return sc.live.Has(seq) || !sc.live.AnyIn(v.Key, v.Last())
}
