package recovery

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// repairStreams repairs every stream in tx.
func repairStreams(tx *bolt.Tx, rep *RepairReport, now time.Time) error {
	streams, err := format.RawStreams(tx)
	if err != nil {
		return err
	}
	for _, rs := range streams {
		r := &streamRepair{tx: tx, rep: rep, name: rs.Name, now: now.UnixNano()}
		if err := r.run(); err != nil {
			return fmt.Errorf("stream %q: %w", rs.Name, err)
		}
	}
	return nil
}

type streamRepair struct {
	tx   *bolt.Tx
	rep  *RepairReport
	name string
	now  int64
	next uint64 // next free sequence number
}

func (r *streamRepair) act(format string, args ...any) {
	r.rep.Actions = append(r.rep.Actions, fmt.Sprintf("stream %q: ", r.name)+fmt.Sprintf(format, args...))
}

// analyze re-reads the stream; every step below works from a fresh scan
// and changes the file only after it.
func (r *streamRepair) analyze() *analysis {
	rs, _ := format.RawStreamOf(r.tx, r.name)
	a := analyze(rs, &problems{})
	r.next = max(r.next, a.Counted.NextSeq)
	return a
}

func (r *streamRepair) take() uint64 { r.next++; return r.next - 1 }

func (r *streamRepair) run() error {
	a := r.analyze()
	if len(a.missing) > 0 {
		created, err := format.EnsureSubBuckets(a.rs.Bucket)
		if err != nil {
			return err
		}
		r.act("created missing bucket(s) %v", created)
	}
	if !a.uidOK {
		uid, found := a.recoverUID()
		if err := a.rs.PutUID(uid); err != nil {
			return err
		}
		if found {
			r.act("restored the stream ID %x from its events", uid)
		} else {
			r.act("gave the stream a new ID %x (no readable event carried the old one)", uid)
		}
	}
	a = r.analyze()
	if err := r.quarantine(a); err != nil {
		return err
	}
	if err := r.dropBatches(a); err != nil {
		return err
	}
	a = r.analyze()
	lastBatch, err := r.fitBatches(a)
	if err != nil {
		return err
	}
	sealed, err := r.unseal(r.analyze(), lastBatch)
	if err != nil {
		return err
	}
	if err := r.fixDead(r.analyze()); err != nil {
		return err
	}
	return r.recount(sealed)
}

// quarantine moves events that fail to decode to the dead letters with
// reason "corrupt: ...", and re-keys dead letters whose key an event holds.
func (r *streamRepair) quarantine(a *analysis) error {
	rs := a.rs
	batchOf := func(seq uint64) string {
		for _, b := range a.batches {
			if b.First <= seq && seq <= b.Last {
				return b.ID
			}
		}
		return ""
	}
	c := rs.Events.Cursor()
	var bad [][]byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := format.ParseSeqKey(k)
		if _, err := format.DecodeRecord(seq, v); !ok || err != nil {
			bad = append(bad, append([]byte(nil), k...))
		}
	}
	for _, k := range bad {
		v := append([]byte(nil), rs.Events.Get(k)...)
		seq, ok := format.ParseSeqKey(k)
		reason := "corrupt: event key is not 8 bytes"
		if _, err := format.DecodeRecord(seq, v); ok && err != nil {
			reason = "corrupt: " + err.Error()
		}
		dk := k
		if !ok || rs.Dead.Get(k) != nil {
			dk = format.SeqKey(r.take())
		}
		if err := r.putDead(rs, dk, format.DeadRecord{Record: v, Reason: reason, BatchID: batchOf(seq), At: r.now}); err != nil {
			return err
		}
		if err := rs.Events.Delete(k); err != nil {
			return err
		}
		r.act("moved event %x, which does not decode, to the dead letters as %d", k, mustSeq(dk))
	}
	return nil
}

func mustSeq(k []byte) uint64 { s, _ := format.ParseSeqKey(k); return s }

func (r *streamRepair) putDead(rs format.RawStream, k []byte, d format.DeadRecord) error {
	v, err := format.EncodeDeadRecord(&d)
	if err != nil {
		return err
	}
	return rs.Dead.Put(k, v)
}

// dropBatches deletes batch records that are not well formed (undecodable,
// reversed, overlapping, or pointing at no events). Their events, if any,
// are in no batch now, and unseal makes them pending.
func (r *streamRepair) dropBatches(a *analysis) error {
	for _, k := range a.badKeys {
		if err := a.rs.Batches.Delete(k); err != nil {
			return err
		}
		r.act("dropped a batch record under malformed key %x", k)
	}
	for _, seq := range a.bad {
		if err := a.rs.Batches.Delete(format.SeqKey(seq)); err != nil {
			return err
		}
		r.act("dropped batch %s: its record is damaged or its range overlaps or holds no events; its events are pending again",
			format.BatchID(a.uid, seq))
	}
	return nil
}

// fitBatches narrows each remaining batch to the events its range holds
// and sets its count and bytes from them (a batch left with no event is
// dropped; a range reaching past SealedThrough is cut back to it). It
// returns the end of the last batch: the new SealedThrough.
func (r *streamRepair) fitBatches(a *analysis) (uint64, error) {
	var sealed uint64
	for _, b := range a.batches {
		origFirst, origLast := b.First, b.Last
		if a.stateOK && b.Last > a.Stored.SealedThrough && b.First <= a.Stored.SealedThrough {
			// Events above SealedThrough are pending by the counters: keep
			// them out of a batch whose end was damaged.
			b.Last = a.Stored.SealedThrough
		}
		h := format.HeldIn(a.rs.Events, b.First, b.Last)
		if h.Count == 0 {
			if err := a.rs.Batches.Delete(format.SeqKey(b.Seq)); err != nil {
				return 0, err
			}
			r.act("dropped batch %s: none of its events is readable (they are dead letters now)", b.ID)
			continue
		}
		if h.First != origFirst || h.Last != origLast || h.Count != b.Count || h.Bytes != b.Bytes {
			r.act("batch %s: range [%d, %d] %d events %d bytes -> [%d, %d] %d events %d bytes",
				b.ID, origFirst, origLast, b.Count, b.Bytes, h.First, h.Last, h.Count, h.Bytes)
			b.First, b.Last, b.Count, b.Bytes = h.First, h.Last, h.Count, h.Bytes
			v, err := format.EncodeBatch(b)
			if err != nil {
				return 0, err
			}
			if err := a.rs.Batches.Put(format.SeqKey(b.Seq), v); err != nil {
				return 0, err
			}
		}
		sealed = h.Last
	}
	return sealed, nil
}

// unseal makes pending the events that are sealed but in no batch, and
// returns the new SealedThrough. Those after the last batch become pending
// where they are, by lowering SealedThrough to just before the first of
// them; those before it (between batches) move to the end of the stream,
// as Requeue does, keeping their envelope (ID, time, key, payload).
func (r *streamRepair) unseal(a *analysis, lastBatch uint64) (uint64, error) {
	sealed := max(a.Counted.SealedThrough, lastBatch)
	for _, seq := range a.strays {
		if seq > lastBatch {
			sealed = min(sealed, seq-1)
			continue
		}
		k := format.SeqKey(seq)
		v := append([]byte(nil), a.rs.Events.Get(k)...)
		to := r.take()
		if err := a.rs.Events.Put(format.SeqKey(to), v); err != nil {
			return 0, err
		}
		if err := a.rs.Events.Delete(k); err != nil {
			return 0, err
		}
		r.act("event %d was sealed but in no batch: pending again as %d", seq, to)
	}
	if a.Counted.SealedThrough > sealed {
		r.act("events %d..%d were sealed after the last batch: pending again", sealed+1, a.Counted.SealedThrough)
	}
	return sealed, nil
}

// fixDead wraps dead letters that do not decode in a readable one, marks
// as corrupt those whose record or other fields fail their checksum
// (keeping the record), re-keys those that share a key with an event, and
// drops completion records that do not decode or fail their checksum
// (audit data). No event is dropped.
func (r *streamRepair) fixDead(a *analysis) error {
	rs := a.rs
	for _, seq := range a.deadBad {
		k := format.SeqKey(seq)
		raw := append([]byte(nil), rs.Dead.Get(k)...)
		if err := r.putDead(rs, k, format.DeadRecord{Record: raw, Reason: "corrupt: dead-letter record does not decode", At: r.now}); err != nil {
			return err
		}
		r.act("dead letter %d does not decode: kept whole inside a new one marked corrupt", seq)
	}
	for _, seq := range a.deadSum {
		k := format.SeqKey(seq)
		d, err := format.DecodeDeadRecord(rs.Dead.Get(k))
		if err != nil {
			return err
		}
		held := "the event's own checksum holds"
		if _, derr := format.DecodeRecord(seq, d.Record); derr != nil {
			held = fmt.Sprintf("the event fails its own checksum too: %v", derr)
		}
		d.Reason = fmt.Sprintf("corrupt: dead-letter fields fail their checksum; %s (reason as read: %s)", held, d.Reason)
		d.Record = append([]byte(nil), d.Record...)
		if err := r.putDead(rs, k, d); err != nil {
			return err
		}
		r.act("dead letter %d: its reason, batch, attempts or time fail their checksum: kept, reason now starts with corrupt (%s)", seq, held)
	}
	for _, seq := range a.deadRot {
		k := format.SeqKey(seq)
		d, err := format.DecodeDeadRecord(rs.Dead.Get(k))
		if err != nil {
			return err
		}
		_, derr := format.DecodeRecord(seq, d.Record)
		d.Reason = fmt.Sprintf("corrupt: %v (was: %s)", derr, d.Reason)
		d.Record = append([]byte(nil), d.Record...)
		if err := r.putDead(rs, k, d); err != nil {
			return err
		}
		r.act("dead letter %d fails its checksum: reason now starts with corrupt", seq)
	}
	var both [][]byte
	c := rs.Dead.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if _, ok := format.ParseSeqKey(k); !ok || rs.Events.Get(k) != nil {
			both = append(both, append([]byte(nil), k...))
		}
	}
	for _, k := range both {
		v := append([]byte(nil), rs.Dead.Get(k)...)
		to := r.take()
		if err := rs.Dead.Put(format.SeqKey(to), v); err != nil {
			return err
		}
		if err := rs.Dead.Delete(k); err != nil {
			return err
		}
		r.act("dead letter under key %x moved to %d (an event holds that key or it is malformed)", k, to)
	}
	for _, k := range a.doneBad {
		if err := rs.Done.Delete(k); err != nil {
			return err
		}
		r.act("dropped completion record %x: it does not decode or fails its checksum (audit data only; no event is lost)", k)
	}
	return nil
}

// recount stores counters from a scan of the repaired stream, and the
// requeued runs the scan finds when the stored ones are wrong.
func (r *streamRepair) recount(sealed uint64) error {
	a := r.analyze()
	if a.RunsWrong {
		if err := a.rs.PutRequeuedRuns(a.Requeued); err != nil {
			return err
		}
		r.act("requeued runs %v -> %v", a.Runs, a.Requeued)
		a = r.analyze()
	}
	orig, st, hadState := a.Stored, a.Stored, a.stateOK
	if !hadState {
		st = format.State{Created: r.now}
		r.act("state record rebuilt from a scan")
	}
	st.SealedThrough = sealed
	st.NextSeq = max(st.NextSeq, r.next, sealed+1)
	if err := a.rs.PutState(st); err != nil {
		return err
	}
	a = r.analyze()
	st = a.Counted
	st.NextSeq = max(st.NextSeq, r.next)
	if hadState && orig != st {
		for _, d := range diffState(orig, st) {
			r.act("%s", d)
		}
	}
	return a.rs.PutState(st)
}

// diffState lists the counters that differ between a and b.
func diffState(a, b format.State) []string {
	var d []string
	add := func(name string, x, y uint64) {
		if x != y {
			d = append(d, fmt.Sprintf("%s %d -> %d", name, x, y))
		}
	}
	add("NextSeq", a.NextSeq, b.NextSeq)
	add("SealedThrough", a.SealedThrough, b.SealedThrough)
	add("NextBatch", a.NextBatch, b.NextBatch)
	add("PendingCount", a.PendingCount, b.PendingCount)
	add("PendingBytes", a.PendingBytes, b.PendingBytes)
	add("InflightBatches", a.InflightBatches, b.InflightBatches)
	add("InflightCount", a.InflightCount, b.InflightCount)
	add("InflightBytes", a.InflightBytes, b.InflightBytes)
	add("DeadCount", a.DeadCount, b.DeadCount)
	add("DeadBytes", a.DeadBytes, b.DeadBytes)
	add("OldestNanos", uint64(a.OldestNanos), uint64(b.OldestNanos))
	add("DoneRecords", a.DoneRecords, b.DoneRecords)
	return d
}
