package format

import (
	"strings"

	bolt "go.etcd.io/bbolt"
)

// walkDead walks the dead bucket: it counts the dead letters and checks
// each one's record, its other fields' checksum, and that no event holds
// its key (events may be nil: missing).
func (sc *Scan) walkDead(dead, events *bolt.Bucket, ids idSet) {
	c := dead.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := sc.recordKey(PartDead, k, v)
		if !ok {
			continue
		}
		sc.maxDead = max(sc.maxDead, seq)
		sc.Counted.DeadCount++
		if events != nil && events.Get(k) != nil {
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
