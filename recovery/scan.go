package recovery

import (
	"crypto/rand"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// analysis is one stream as a scan of its buckets finds it. Verify reports
// its problems; Repair acts on it.
type analysis struct {
	name     string
	rs       format.RawStream
	uid      [8]byte
	uidOK    bool
	stored   format.State
	stateOK  bool
	missing  []string        // sub-buckets
	batches  []*format.Batch // well-formed batches, seal order, ranges ascending
	bad      []uint64        // keys of batch records dropped: undecodable, overlapping, dangling
	badKeys  [][]byte        // batch keys that are not 8 bytes
	corrupt  []uint64        // events whose envelope fails to decode
	strays   []uint64        // decodable events sealed but in no well-formed batch
	inBatch  []batchCount    // per well-formed batch: what its range holds
	deadBad  []uint64        // dead letters that do not decode
	deadRot  []uint64        // dead letters whose record fails its checksum, reason not "corrupt"
	deadSum  []uint64        // dead letters whose reason, batch, attempts or time fail their checksum
	doneBad  [][]byte        // keys of completion records that do not decode or fail their checksum
	counted  format.State
	events   int64
	maxEvent uint64
	maxDead  uint64
	maxBatch uint64
	maxDone  uint64

	runs []format.RequeuedRun // the stored requeued runs
	// runsWrong is set when the stored requeued runs do not decode or do
	// not hold exactly the requeued events in enqueue-time order; requeued
	// is then what Repair stores instead: each stretch of requeued events
	// with no other event between and no time going back.
	runsWrong bool
	requeued  []format.RequeuedRun
}

type batchCount struct {
	count int
	bytes int64
}

// sealed is the SealedThrough the scan measures against: the stored one,
// or without a state record the end of the last batch.
func (a *analysis) sealed() uint64 {
	if a.stateOK {
		return a.stored.SealedThrough
	}
	var last uint64
	for _, b := range a.batches {
		last = max(last, b.Last)
	}
	return last
}

// analyze scans one stream in tx and reports what is wrong to ps.
func analyze(rs format.RawStream, ps *problems) *analysis {
	a := &analysis{name: rs.Name, rs: rs}
	n := rs.Name
	if a.uidOK = len(rs.UID) == 8; a.uidOK {
		copy(a.uid[:], rs.UID)
		// The ID has no checksum of its own, but every event carries it
		// (as the first half of its ID) under the event's: a flipped bit
		// in it would change every batch ID, which receivers use as the
		// idempotency key.
		if carried, ok := a.carriedUID(); ok && carried != a.uid {
			a.uidOK = false
			ps.add(KindBucket, n, 0, "stream ID %x differs from the one its events carry (%x): batch IDs would change", a.uid, carried)
		}
	} else {
		ps.add(KindBucket, n, 0, "stream ID missing or malformed (%d bytes)", len(rs.UID))
	}
	if rs.State == nil {
		ps.add(KindState, n, 0, "state record missing")
	} else if st, err := format.DecodeState(rs.State); err != nil {
		ps.add(KindState, n, 0, "%v", err)
	} else {
		a.stored, a.stateOK = st, true
	}
	if runs, err := format.DecodeRequeuedRuns(rs.Requeued); err != nil {
		a.runsWrong = true
		ps.add(KindCounter, n, 0, "%v", err)
	} else {
		a.runs = runs
	}
	for _, key := range []string{"state", "uid", "requeued"} {
		if rs.Bucket.Bucket([]byte(key)) != nil {
			ps.add(KindFile, n, 0, "%q is a bucket where a value belongs", key)
		}
	}
	for i, b := range []*bolt.Bucket{rs.Events, rs.Batches, rs.Dead, rs.Done} {
		if b == nil && rs.Bucket.Get([]byte(format.SubBuckets[i])) != nil {
			ps.add(KindFile, n, 0, "%q is a value where a bucket belongs", format.SubBuckets[i])
		}
		if sub := format.SubBuckets[i]; b == nil {
			a.missing = append(a.missing, sub)
			ps.add(KindBucket, n, 0, "bucket %q missing", sub)
		}
	}
	a.scanBatches(ps)
	a.scanEvents(ps)
	a.scanDead(ps)
	a.scanDone(ps)
	a.compare(ps)
	return a
}

func (a *analysis) scanBatches(ps *problems) {
	if a.rs.Batches == nil {
		return
	}
	var prevLast uint64
	c := a.rs.Batches.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			ps.add(KindFile, a.name, 0, "batch key %x is a bucket where a record belongs", k)
			continue
		}
		seq, ok := format.ParseSeqKey(k)
		if !ok {
			ps.add(KindBatch, a.name, 0, "batch key %x is not 8 bytes", k)
			a.badKeys = append(a.badKeys, append([]byte(nil), k...))
			continue
		}
		a.maxBatch = max(a.maxBatch, seq)
		b, err := format.DecodeBatch(a.uid, seq, v)
		drop := func(format string, args ...any) {
			ps.add(KindBatch, a.name, seq, "batch %d: "+format, append([]any{seq}, args...)...)
			a.bad = append(a.bad, seq)
		}
		switch {
		case err != nil:
			drop("%v", err)
		case b.First == 0 || b.First > b.Last:
			drop("range [%d, %d] is empty or reversed", b.First, b.Last)
		case b.First <= prevLast:
			drop("range [%d, %d] overlaps an earlier batch ending at %d", b.First, b.Last, prevLast)
		case a.rs.Events == nil || !holdsEvents(a.rs.Events, b.First, b.Last):
			drop("range [%d, %d] points at missing events (it holds none)", b.First, b.Last)
		default:
			if a.rs.Events.Get(format.SeqKey(b.First)) == nil || a.rs.Events.Get(format.SeqKey(b.Last)) == nil {
				ps.add(KindBatch, a.name, seq, "batch %d: range [%d, %d] points at missing events", seq, b.First, b.Last)
			}
			a.batches = append(a.batches, b)
			prevLast = b.Last
		}
	}
	a.inBatch = make([]batchCount, len(a.batches))
}

func (a *analysis) scanEvents(ps *problems) {
	if a.rs.Events == nil {
		return
	}
	sealed := a.sealed()
	var strayFrom, strayTo uint64
	flush := func() {
		if strayFrom != 0 {
			ps.add(KindSealed, a.name, strayFrom, "events %d..%d are at or below SealedThrough %d but in no batch", strayFrom, strayTo, sealed)
			strayFrom = 0
		}
	}
	j := 0
	first := true
	// The stored requeued runs, walked along with the events: runs[ri]
	// is the first run not yet behind the event, inRun how many events of
	// it came so far, runTime the time of the last of them.
	runs := a.runs
	ri, inRun := 0, 0
	var runTime int64
	runWrong := func(seq uint64, format string, args ...any) {
		a.runsWrong = true
		ps.add(KindCounter, a.name, seq, format, args...)
	}
	endRun := func() {
		if inRun == 0 {
			runWrong(0, "requeued run [%d, %d] holds no event", runs[ri].First, runs[ri].Last)
		}
		ri, inRun = ri+1, 0
	}
	var loose int // requeued events in no run
	var looseFirst, looseLast uint64
	var prevRequeued bool // the previous event was requeued
	var prevTime int64
	c := a.rs.Events.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			ps.add(KindFile, a.name, 0, "event key %x is a bucket where a record belongs", k)
			continue
		}
		seq, ok := format.ParseSeqKey(k)
		if !ok {
			ps.add(KindRecord, a.name, 0, "event key %x is not 8 bytes", k)
			continue
		}
		a.events++
		a.maxEvent = max(a.maxEvent, seq)
		t, requeued := format.RecordTime(v), format.IsRequeued(seq, v)
		if first {
			a.counted.OldestNanos, first = t, false
		} else if requeued {
			a.counted.OldestNanos = min(a.counted.OldestNanos, t)
		}
		for ri < len(runs) && runs[ri].Last < seq {
			endRun()
		}
		switch inside := ri < len(runs) && runs[ri].First <= seq; {
		case inside && !requeued:
			runWrong(seq, "event %d is in requeued run [%d, %d] but was not requeued", seq, runs[ri].First, runs[ri].Last)
		case inside && inRun > 0 && t < runTime:
			runWrong(seq, "event %d in requeued run [%d, %d] is older than the one before it", seq, runs[ri].First, runs[ri].Last)
		case !inside && requeued:
			if loose++; looseFirst == 0 {
				looseFirst = seq
			}
			looseLast = seq
		}
		if ri < len(runs) && runs[ri].First <= seq {
			inRun, runTime = inRun+1, t
		}
		if n := len(a.requeued); requeued && prevRequeued && n > 0 && t >= prevTime {
			a.requeued[n-1].Last = seq
		} else if requeued {
			a.requeued = append(a.requeued, format.RequeuedRun{First: seq, Last: seq})
		}
		prevRequeued, prevTime = requeued, t
		bytes := format.RecordBytes(v)
		if _, err := format.DecodeRecord(seq, v); err != nil {
			a.corrupt = append(a.corrupt, seq)
			ps.add(KindRecord, a.name, seq, "%v", err)
		}
		for j < len(a.batches) && a.batches[j].Last < seq {
			j++
		}
		switch {
		case j < len(a.batches) && a.batches[j].First <= seq:
			bc := &a.inBatch[j]
			bc.count++
			bc.bytes += int64(bytes)
			a.counted.InflightCount++
			a.counted.InflightBytes += bytes
		case seq <= sealed:
			a.strays = append(a.strays, seq)
			if strayFrom == 0 {
				strayFrom = seq
			} else if strayTo != seq-1 {
				flush()
				strayFrom = seq
			}
			strayTo = seq
		default:
			flush()
			a.counted.PendingCount++
			a.counted.PendingBytes += bytes
		}
	}
	flush()
	for ri < len(runs) {
		endRun()
	}
	if undecodable := a.rs.Requeued != nil && runs == nil; loose > 0 && !undecodable {
		// Left by a version that did not record runs, or by damage: the
		// counters would miss them once the events before them complete.
		runWrong(looseFirst, "%d requeued event(s) between seq %d and %d are in no requeued run", loose, looseFirst, looseLast)
	}
	for i, b := range a.batches {
		bc := a.inBatch[i]
		if bc.count != b.Count || bc.bytes != b.Bytes {
			ps.add(KindBatch, a.name, b.Seq, "batch %d: record says %d events/%d bytes, range [%d, %d] holds %d/%d",
				b.Seq, b.Count, b.Bytes, b.First, b.Last, bc.count, bc.bytes)
		}
		if b.Last > sealed {
			ps.add(KindSealed, a.name, b.Seq, "batch %d: range [%d, %d] ends above SealedThrough %d", b.Seq, b.First, b.Last, sealed)
		}
	}
	a.counted.InflightBatches = uint64(len(a.batches))
}

func (a *analysis) scanDead(ps *problems) {
	if a.rs.Dead == nil {
		return
	}
	c := a.rs.Dead.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			ps.add(KindFile, a.name, 0, "dead letter key %x is a bucket where a record belongs", k)
			continue
		}
		seq, ok := format.ParseSeqKey(k)
		if !ok {
			ps.add(KindDead, a.name, 0, "dead-letter key %x is not 8 bytes", k)
			continue
		}
		a.maxDead = max(a.maxDead, seq)
		a.counted.DeadCount++
		if a.rs.Events != nil && a.rs.Events.Get(k) != nil {
			ps.add(KindDead, a.name, seq, "event %d is both pending and a dead letter", seq)
		}
		d, err := format.DecodeDeadRecord(v)
		if err != nil {
			a.deadBad = append(a.deadBad, seq)
			a.counted.DeadBytes += uint64(len(v))
			ps.add(KindDead, a.name, seq, "%v", err)
			continue
		}
		a.counted.DeadBytes += format.RecordBytes(d.Record)
		if !d.SumOK() {
			a.deadSum = append(a.deadSum, seq)
			ps.add(KindDead, a.name, seq, "dead letter %d: its reason, batch, attempts or time fail their checksum (reason as read: %q)", seq, d.Reason)
			continue
		}
		if _, err := format.DecodeRecord(seq, d.Record); err != nil && !strings.HasPrefix(d.Reason, "corrupt") {
			a.deadRot = append(a.deadRot, seq)
			ps.add(KindDead, a.name, seq, "dead letter (%s): %v", d.Reason, err)
		}
	}
}

func (a *analysis) scanDone(ps *problems) {
	if a.rs.Done == nil {
		return
	}
	c := a.rs.Done.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			ps.add(KindFile, a.name, 0, "completion key %x is a bucket where a record belongs", k)
			continue
		}
		seq, ok := format.ParseSeqKey(k)
		if !ok {
			ps.add(KindDone, a.name, 0, "completion key %x is not 8 bytes", k)
			a.doneBad = append(a.doneBad, append([]byte(nil), k...))
			continue
		}
		a.maxDone = max(a.maxDone, seq)
		a.counted.DoneRecords++
		if _, err := format.DecodeCompletion(a.uid, seq, v); err != nil {
			ps.add(KindDone, a.name, seq, "%v", err)
			a.doneBad = append(a.doneBad, append([]byte(nil), k...))
		}
	}
}

// compare fills in the rest of counted and reports each counter that
// disagrees with the stored one.
func (a *analysis) compare(ps *problems) {
	c, s := &a.counted, a.stored
	c.SealedThrough = a.sealed()
	c.NextSeq = max(s.NextSeq, a.maxEvent+1, a.maxDead+1, c.SealedThrough+1, 1)
	c.NextBatch = max(s.NextBatch, a.maxBatch+1, a.maxDone+1, 1)
	c.CompletedBatches, c.CompletedEvents, c.Created = s.CompletedBatches, s.CompletedEvents, s.Created
	if !a.stateOK {
		return
	}
	check := func(name string, stored, counted uint64) {
		if stored != counted {
			ps.add(KindCounter, a.name, 0, "%s is %d, a scan finds %d", name, stored, counted)
		}
	}
	if s.NextSeq != c.NextSeq {
		ps.add(KindCounter, a.name, 0, "NextSeq %d is not above every key (largest event %d, dead letter %d, sealed through %d)",
			s.NextSeq, a.maxEvent, a.maxDead, s.SealedThrough)
	}
	if s.NextBatch != c.NextBatch {
		ps.add(KindCounter, a.name, 0, "NextBatch %d is not above every batch key (largest batch %d, completion %d)",
			s.NextBatch, a.maxBatch, a.maxDone)
	}
	check("PendingCount", s.PendingCount, c.PendingCount)
	check("PendingBytes", s.PendingBytes, c.PendingBytes)
	check("InflightBatches", s.InflightBatches, c.InflightBatches)
	check("InflightCount", s.InflightCount, c.InflightCount)
	check("InflightBytes", s.InflightBytes, c.InflightBytes)
	check("DeadCount", s.DeadCount, c.DeadCount)
	check("DeadBytes", s.DeadBytes, c.DeadBytes)
	check("DoneRecords", s.DoneRecords, c.DoneRecords)
	check("OldestNanos", uint64(s.OldestNanos), uint64(c.OldestNanos))
}

// recoverUID finds the stream ID a stream's events carry (see
// carriedUID), or makes a new one.
func (a *analysis) recoverUID() (uid [8]byte, found bool) {
	if uid, found = a.carriedUID(); found {
		return uid, true
	}
	_, _ = rand.Read(uid[:])
	return uid, false
}

// carriedUID returns the stream ID the first readable event or dead letter
// carries (an event ID is the stream ID followed by the sequence number of
// the event's first append); false if none is readable.
func (a *analysis) carriedUID() (uid [8]byte, found bool) {
	for _, b := range []*bolt.Bucket{a.rs.Events, a.rs.Dead} {
		if b == nil {
			continue
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, _ := format.ParseSeqKey(k)
			if b == a.rs.Dead {
				d, err := format.DecodeDeadRecord(v)
				if err != nil {
					continue
				}
				v = d.Record
			}
			if r, err := format.DecodeRecord(seq, v); err == nil {
				copy(uid[:], r.ID[:8])
				return uid, true
			}
		}
	}
	return uid, false
}

// holdsEvents reports whether events has a key in [first, last].
func holdsEvents(events *bolt.Bucket, first, last uint64) bool {
	k, _ := events.Cursor().Seek(format.SeqKey(first))
	seq, ok := format.ParseSeqKey(k)
	return ok && seq <= last
}
