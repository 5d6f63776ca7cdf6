package recovery

import (
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// repairStreams repairs every stream in tx; runs is whether the file may
// hold runs (format version 2 or later).
func repairStreams(tx *bolt.Tx, rep *RepairReport, now time.Time, runs bool) error {
	streams, err := format.RawStreams(tx)
	if err != nil {
		return err
	}
	for _, rs := range streams {
		r := &streamRepair{tx: tx, rep: rep, name: rs.Name, now: now.UnixNano(), runs: runs}
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
	runs bool   // the file may hold runs (format 2)
	next uint64 // next free sequence number
}

func (r *streamRepair) act(format string, args ...any) {
	r.rep.Actions = append(r.rep.Actions, fmt.Sprintf("stream %q: ", r.name)+fmt.Sprintf(format, args...))
}

// analyze re-reads the stream; every step below works from a fresh scan
// and changes the file only after it.
func (r *streamRepair) analyze() *analysis {
	rs, _ := format.RawStreamOf(r.tx, r.name)
	a := analyze(rs, &problems{}, r.runs)
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
	if a.runs {
		return r.quarantineValues(a)
	}
	rs := a.rs
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
		if err := r.putDead(rs, dk, format.DeadRecord{Record: v, Reason: reason, BatchID: a.batchOf(seq), At: r.now}); err != nil {
			return err
		}
		if err := rs.Events.Delete(k); err != nil {
			return err
		}
		r.act("moved event %x, which does not decode, to the dead letters as %d", k, mustSeq(dk))
	}
	return nil
}

// batchOf returns the ID of the counted batch whose range holds seq, or "".
func (a *analysis) batchOf(seq uint64) string {
	for _, b := range a.batches {
		if b.First <= seq && seq <= b.Last {
			return b.ID
		}
	}
	return ""
}

// quarantineValues is quarantine for a file that may hold runs: a value
// is never rewritten as if it held one event. The scan lists each
// corrupt event it checked (a live one, or one of a stray value) as a
// finding; an envelope or a run whose header fails goes to the dead
// letters whole, as one dead letter, and a run with corrupt records is
// split: each of them goes to the dead letters alone (as its record's
// stored bytes), and the sound records stay, re-encoded as runs under
// their own first sequence numbers with their IDs, so no value holds the
// quarantined ones any more. A record of the run that does not decode but
// had left the stream already (garbage, which the scan does not check)
// cannot be re-encoded either: it goes to the dead letters too, its reason
// saying so, as Repair deletes no record it cannot read.
func (r *streamRepair) quarantineValues(a *analysis) error {
	corrupt := map[uint64]bool{}
	var seqs []uint64 // ascending: the findings are in key order
	var overlaps []uint64
	for _, f := range a.Findings {
		switch {
		case f.Part == format.PartEvents && f.Flaw == format.FlawCorrupt:
			corrupt[f.Seq] = true
			seqs = append(seqs, f.Seq)
		case f.Flaw == format.FlawKeyInValue:
			overlaps = append(overlaps, f.Seq)
		}
	}
	// A value under a key an earlier value reaches goes to the dead
	// letters whole, before a split below writes keys it might hold.
	for _, key := range overlaps {
		k := format.SeqKey(key)
		v := append([]byte(nil), a.rs.Events.Get(k)...)
		dk := k
		if a.rs.Dead.Get(k) != nil {
			dk = format.SeqKey(r.take())
		}
		if err := r.putDead(a.rs, dk, format.DeadRecord{Record: v, Reason: "corrupt: the value overlaps the one before it", At: r.now}); err != nil {
			return err
		}
		if err := a.rs.Events.Delete(k); err != nil {
			return err
		}
		r.act("moved the value at %d, which overlaps the one before it, to the dead letters whole as %d", key, mustSeq(dk))
	}
	var badKeys [][]byte
	c := a.rs.Events.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if _, ok := format.ParseSeqKey(k); !ok {
			badKeys = append(badKeys, append([]byte(nil), k...))
		}
	}
	for _, k := range badKeys {
		v := append([]byte(nil), a.rs.Events.Get(k)...)
		dk := format.SeqKey(r.take())
		if err := r.putDead(a.rs, dk, format.DeadRecord{Record: v, Reason: "corrupt: event key is not 8 bytes", At: r.now}); err != nil {
			return err
		}
		if err := a.rs.Events.Delete(k); err != nil {
			return err
		}
		r.act("moved event %x, which does not decode, to the dead letters as %d", k, mustSeq(dk))
	}
	var vals []format.Value // copied: the bucket changes below
	cur := a.events.Cursor()
	j := 0
	for ok := len(seqs) > 0 && cur.Seek(0); ok && j < len(seqs); ok = cur.NextValue() {
		v := cur.Value()
		for j < len(seqs) && seqs[j] < v.Key {
			j++
		}
		if j < len(seqs) && seqs[j] <= v.Last() {
			vals = append(vals, format.ParseValue(a.uid, v.Key, append([]byte(nil), v.Raw...), true, uint64(v.Len())))
		}
	}
	for i := range vals {
		if err := r.quarantineValue(a, &vals[i], corrupt); err != nil {
			return err
		}
	}
	return nil
}

// quarantineValue quarantines the corrupt events of one value (see
// quarantineValues); val does not alias the transaction.
func (r *streamRepair) quarantineValue(a *analysis, val *format.Value, corrupt map[uint64]bool) error {
	rs := a.rs
	deadKey := func(seq uint64) []byte {
		if rs.Dead.Get(format.SeqKey(seq)) != nil {
			return format.SeqKey(r.take())
		}
		return format.SeqKey(seq)
	}
	if !val.IsRun() || val.Err() != nil {
		reason := fmt.Sprintf("corrupt: %v", val.Err())
		if _, err := val.Event(0); !val.IsRun() && err != nil {
			reason = "corrupt: " + err.Error()
		}
		dk := deadKey(val.Key)
		if err := r.putDead(rs, dk, format.DeadRecord{Record: val.Envelope(0), Reason: reason, BatchID: a.batchOf(val.Key), At: r.now}); err != nil {
			return err
		}
		if err := rs.Events.Delete(format.SeqKey(val.Key)); err != nil {
			return err
		}
		if val.Len() > 1 {
			r.act("moved the run of events %d..%d, whose header does not decode, to the dead letters as %d", val.Key, val.Last(), mustSeq(dk))
		} else {
			r.act("moved event %d, which does not decode, to the dead letters as %d", val.Key, mustSeq(dk))
		}
		return nil
	}
	if err := rs.Events.Delete(format.SeqKey(val.Key)); err != nil {
		return err
	}
	var seg []format.RunEvent
	var segFirst uint64
	put := func() error {
		if len(seg) == 0 {
			return nil
		}
		v := format.AppendRun(nil, a.uid, segFirst, seg)
		seg = nil
		return rs.Events.Put(format.SeqKey(segFirst), v)
	}
	for i := range val.Len() {
		seq := val.Key + uint64(i)
		rec, err := val.Event(i)
		if err == nil {
			if len(seg) == 0 {
				segFirst = seq
			}
			seg = append(seg, format.RunEvent{ID: rec.ID, Time: rec.Time.UnixNano(), Key: rec.Key, Payload: rec.Payload, Headers: rec.Headers})
			continue
		}
		if err := put(); err != nil {
			return err
		}
		reason, batch, left := "corrupt: "+err.Error(), a.batchOf(seq), ""
		if !corrupt[seq] {
			reason += " (it had left the stream already: delivered or dead-lettered)"
			batch, left = "", ", which had left the stream already"
		}
		dk := deadKey(seq)
		if err := r.putDead(rs, dk, format.DeadRecord{Record: val.Envelope(i), Reason: reason, BatchID: batch, At: r.now}); err != nil {
			return err
		}
		r.act("moved event %d (record %d of the run at %d)%s, which does not decode, to the dead letters as %d", seq, i, val.Key, left, mustSeq(dk))
	}
	if err := put(); err != nil {
		return err
	}
	r.act("run at %d (events %d..%d) split around its corrupt records; the others kept", val.Key, val.Key, val.Last())
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

// fitBatches narrows each remaining batch to the events it holds and
// sets its count, bytes and holes from them (a batch left with no event
// is dropped; a range reaching past SealedThrough is cut back to it; a
// hole no value holds is dropped). It returns the end of the last batch:
// the new SealedThrough.
func (r *streamRepair) fitBatches(a *analysis) (uint64, error) {
	var sealed uint64
	for _, b := range a.batches {
		orig := *b
		if a.stateOK && b.Last > a.Stored.SealedThrough && b.First <= a.Stored.SealedThrough {
			// Events above SealedThrough are pending by the counters: keep
			// them out of a batch whose end was damaged.
			b.Last = a.Stored.SealedThrough
		}
		h := format.HeldIn(a.events, b)
		if h.Count == 0 {
			if err := a.rs.Batches.Delete(format.SeqKey(b.Seq)); err != nil {
				return 0, err
			}
			r.act("dropped batch %s: none of its events is readable (they are dead letters now)", b.ID)
			continue
		}
		b.First, b.Last, b.Count, b.Bytes, b.Holes = h.First, h.Last, h.Count, h.Bytes, h.Holes
		b.ClipHoles()
		if b.First != orig.First || b.Last != orig.Last || b.Count != orig.Count || b.Bytes != orig.Bytes {
			r.act("batch %s: range [%d, %d] %d events %d bytes -> [%d, %d] %d events %d bytes",
				b.ID, orig.First, orig.Last, orig.Count, orig.Bytes, b.First, b.Last, b.Count, b.Bytes)
		}
		if !slices.Equal(b.Holes, orig.Holes) {
			r.act("batch %s: holes %v -> %v (a hole is kept only while a value holds it)", b.ID, orig.Holes, b.Holes)
		}
		if b.First != orig.First || b.Last != orig.Last || b.Count != orig.Count || b.Bytes != orig.Bytes || !slices.Equal(b.Holes, orig.Holes) {
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

// unseal makes pending the events that are sealed but in no batch (those
// of stray values), and returns the new SealedThrough. Those after the
// last batch become pending where they are, by lowering SealedThrough to
// just before the first of them; those before it (between batches) move
// to the end of the stream, as Requeue does, keeping their ID, time, key,
// payload and headers (an envelope as it is, a run re-encoded under its
// new sequence numbers).
func (r *streamRepair) unseal(a *analysis, lastBatch uint64) (uint64, error) {
	sealed := max(a.Counted.SealedThrough, lastBatch)
	var moves []format.Value // copied: the bucket changes below
	for _, rg := range a.strays {
		cur := a.events.Cursor()
		for ok := cur.Seek(rg[0]); ok && cur.Seq() <= rg[1]; ok = cur.NextValue() {
			v := cur.Value()
			if v.Key > lastBatch {
				sealed = min(sealed, v.Key-1)
				break
			}
			moves = append(moves, format.ParseValue(a.uid, v.Key, append([]byte(nil), v.Raw...), a.runs, uint64(v.Len())))
		}
	}
	for i := range moves {
		if err := r.move(a, &moves[i]); err != nil {
			return 0, err
		}
	}
	if a.Counted.SealedThrough > sealed {
		r.act("events %d..%d were sealed after the last batch: pending again", sealed+1, a.Counted.SealedThrough)
	}
	return sealed, nil
}

// move puts the events of the stray value v at the end of the stream
// (see unseal).
func (r *streamRepair) move(a *analysis, v *format.Value) error {
	if err := a.rs.Events.Delete(format.SeqKey(v.Key)); err != nil {
		return err
	}
	if !v.IsRun() {
		to := r.take()
		if err := a.rs.Events.Put(format.SeqKey(to), v.Raw); err != nil {
			return err
		}
		r.act("event %d was sealed but in no batch: pending again as %d", v.Key, to)
		return nil
	}
	// quarantine moved every corrupt record of a stray to the dead
	// letters: a run here is sound.
	evs := make([]format.RunEvent, 0, v.Len())
	for i := range v.Len() {
		rec, err := v.Event(i)
		if err != nil {
			return fmt.Errorf("stray event %d: %w", v.Key+uint64(i), err)
		}
		evs = append(evs, format.RunEvent{ID: rec.ID, Time: rec.Time.UnixNano(), Key: rec.Key, Payload: rec.Payload, Headers: rec.Headers})
	}
	to := r.take()
	r.next += uint64(len(evs) - 1)
	if err := a.rs.Events.Put(format.SeqKey(to), format.AppendRun(nil, a.uid, to, evs)); err != nil {
		return err
	}
	r.act("events %d..%d were sealed but in no batch: pending again as %d..%d", v.Key, v.Last(), to, to+uint64(len(evs))-1)
	return nil
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
		if seq, ok := format.ParseSeqKey(k); !ok || a.AlsoEvent(seq) {
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
		if r.runs {
			r.act("deleted the requeued runs record left from format 1 (format 2 keeps none)")
		} else {
			r.act("requeued runs %v -> %v", a.Runs, a.Requeued)
		}
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
