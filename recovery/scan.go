package recovery

import (
	"crypto/rand"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// analysis is one stream as a scan of its buckets finds it (see
// format.ScanStream). Verify reports its problems; Repair acts on it.
type analysis struct {
	*format.Scan
	name    string
	rs      format.RawStream
	uid     [8]byte
	uidOK   bool
	runs    bool          // the file may hold runs (format 2)
	events  format.Events // the events bucket as the scan read it
	stateOK bool
	missing []string        // sub-buckets
	batches []*format.Batch // counted batches, seal order, ranges ascending
	bad     []uint64        // keys of batch records dropped: undecodable, overlapping, dangling
	badKeys [][]byte        // batch keys that are not 8 bytes
	strays  [][2]uint64     // ranges of events in stray values: sealed, in no counted batch
	deadBad []uint64        // dead letters that do not decode
	deadRot []uint64        // dead letters whose record fails its checksum, reason not "corrupt"
	deadSum []uint64        // dead letters whose reason, batch, attempts or time fail their checksum
	doneBad [][]byte        // keys of completion records that do not decode or fail their checksum
}

// analyze scans one stream in tx and reports what is wrong to ps. runs is
// whether the file may hold runs (format version 2 or later).
func analyze(rs format.RawStream, ps *problems, runs bool) *analysis {
	a := &analysis{name: rs.Name, rs: rs, runs: runs}
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
	a.Scan = format.ScanStream(rs, a.uid, format.ScanOptions{Runs: runs})
	a.events = format.Events{Bucket: rs.Events, UID: a.uid, Runs: runs, Last: a.Counted.NextSeq - 1}
	a.stateOK = a.StateErr == nil
	if rs.State == nil {
		ps.add(KindState, n, 0, "state record missing")
	} else if !a.stateOK {
		ps.add(KindState, n, 0, "%v", a.StateErr)
	}
	if a.RunsErr != nil {
		ps.add(KindCounter, n, 0, "%v", a.RunsErr)
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
	a.batches = a.Batches.Counted
	for _, f := range a.Findings {
		ps.add(kindOf(f), n, f.Seq, "%s", f.Msg)
		a.note(f)
	}
	return a
}

// kindOf is the Kind of problem a finding is.
func kindOf(f format.Finding) Kind {
	switch {
	case f.Flaw == format.FlawNested:
		return KindFile
	case f.Flaw == format.FlawStrays || f.Flaw == format.FlawPastSealed:
		return KindSealed
	case f.Flaw.RunFlaw():
		return KindCounter
	}
	switch f.Part {
	case format.PartBatches:
		return KindBatch
	case format.PartEvents:
		return KindRecord
	case format.PartDead:
		return KindDead
	case format.PartDone:
		return KindDone
	}
	return KindCounter
}

// note keeps what Repair acts on from a finding.
func (a *analysis) note(f format.Finding) {
	switch {
	case f.Part == format.PartBatches && f.Flaw == format.FlawBadKey:
		a.badKeys = append(a.badKeys, f.Key)
	case f.Part == format.PartBatches && (f.Flaw == format.FlawUndecodable || f.Flaw == format.FlawEmptyRange ||
		f.Flaw == format.FlawOverlaps || f.Flaw == format.FlawHoldsNone):
		a.bad = append(a.bad, f.Seq)
	case f.Flaw == format.FlawStrays:
		a.strays = append(a.strays, [2]uint64{f.First, f.Last})
	case f.Part == format.PartDead && f.Flaw == format.FlawUndecodable:
		a.deadBad = append(a.deadBad, f.Seq)
	case f.Flaw == format.FlawRotten:
		a.deadRot = append(a.deadRot, f.Seq)
	case f.Flaw == format.FlawFieldSum:
		a.deadSum = append(a.deadSum, f.Seq)
	case f.Part == format.PartDone && f.Flaw == format.FlawBadKey:
		a.doneBad = append(a.doneBad, f.Key)
	case f.Part == format.PartDone && f.Flaw == format.FlawUndecodable:
		a.doneBad = append(a.doneBad, format.SeqKey(f.Seq))
	}
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
// the event's first append); false if none is readable. A run's record
// carries it only when its ID is stored (a requeued event): the others
// are checked under the stream's ID, which is what is in question.
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
			} else if val := format.ParseValue(a.uid, seq, v, a.runs, 0); val.IsRun() {
				for i := range val.Len() {
					if r, err := val.Event(i); err == nil && val.IsRequeued(i) {
						copy(uid[:], r.ID[:8])
						return uid, true
					}
				}
				continue
			}
			if r, err := format.DecodeRecord(seq, v); err == nil {
				copy(uid[:], r.ID[:8])
				return uid, true
			}
		}
	}
	return uid, false
}
