package format

import (
	"bytes"
	"fmt"
)

// Scan is what ScanStream finds in one stream: what its counters should
// be, and everything a full walk of its buckets finds wrong. It is the one
// recount of a stream: recovery's Verify and Repair and wal's test
// helpers use it; Plan, which must not read the backlog, uses its batch
// part, ScanBatches.
type Scan struct {
	// Stored is the state record; zero when StateErr is set (the record
	// is missing, does not decode, or has the wrong size for the file's
	// format version). In format 2 its derived counters are what
	// DeriveState gives, as package wal loads them.
	Stored   State
	StateErr error
	// Runs are the stored requeued runs of a format 1 file; nil when
	// there are none, RunsErr is set (the value does not decode), or the
	// file is at format 2, which keeps no runs (ScanOptions.Runs).
	Runs    []RequeuedRun
	RunsErr error
	Batches Batches
	// Findings are in the order of the walk: the batch records (key by
	// key), the events, the counted batches against what their ranges
	// hold, the dead letters, the completion records, the counters.
	Findings []Finding
	// Counted is what the counters should be. SealedThrough is the one the
	// scan measures against: the stored one or, without a state record,
	// the end of the last counted batch. NextSeq and NextBatch are the
	// stored ones raised above every key; the completed totals and
	// Created are the stored ones (a scan cannot know them).
	Counted State
	// Events is the number of events values hold (8-byte keys holding a
	// value; in a format 2 file a run holds many), live or not.
	Events int64
	// RunsWrong is set when the stored requeued runs do not decode or do
	// not hold exactly the requeued events in enqueue-time order;
	// Requeued is then what should be stored: each stretch of requeued
	// events with no other event between and no time going back. In a
	// format 2 file it is set when the stream has a "requeued" value at
	// all (FlawStaleRuns), and Requeued is nil: none should be stored.
	RunsWrong bool
	Requeued  []RequeuedRun

	uid                        [8]byte
	version                    uint64 // the file's format version
	events                     Events
	live                       *Live // by the counted batches and SealedThrough
	maxEvent, maxDead, maxDone uint64
}

// ScanOptions configures ScanStream.
type ScanOptions struct {
	// IDs checks every readable event and dead letter's ID: that it is
	// the stream's (uid) and that no other event or dead letter holds it.
	// It costs memory for every ID.
	IDs bool
	// Runs is whether the file may hold runs of events in one value
	// (format version 2 or later; see Value). In a format 1 file every
	// value is one event.
	Runs bool
}

// ScanStream walks every key of the stream rs in its transaction (which
// may be read-only) and changes nothing; a missing sub-bucket holds
// nothing. uid is the stream's ID: it forms the batch IDs in messages and
// is the one ScanOptions.IDs checks against. Its cost grows with the
// stream: every event, dead letter and completion record is read and
// checked once, the events in counted batches twice (see ScanBatches).
//
// What it counts and checks are the events of format.Live: pending ones
// and those in counted batches. An event a value holds that is not live
// is garbage (in a format 2 file, an event that left while other events
// of its value stay) and is neither counted nor checked, unless no event
// of its value is live and the value lies at or below SealedThrough: that
// value is a stray, damage, and its events are checked and reported as
// strays. In a format 1 file every value is one event, so every event
// that is not live is a stray.
func ScanStream(rs RawStream, uid [8]byte, opts ScanOptions) *Scan {
	sc := &Scan{uid: uid, version: rs.Version}
	sc.Stored, sc.StateErr = DecodeState(rs.Version, rs.State)
	if sc.StateErr == nil && rs.Version >= 2 {
		DeriveState(rs.Bucket, &sc.Stored)
	}
	if !opts.Runs {
		sc.Runs, sc.RunsErr = DecodeRequeuedRuns(rs.Requeued)
		sc.RunsWrong = sc.RunsErr != nil
	}
	sc.events = Events{Bucket: rs.Events, UID: uid, Runs: opts.Runs, Last: max(sc.Stored.NextSeq, 1) - 1}
	sc.Batches = ScanBatches(sc.events, rs.Batches)
	sc.Counted.SealedThrough = sc.Stored.SealedThrough
	if sc.StateErr != nil {
		for _, b := range sc.Batches.Counted {
			sc.Counted.SealedThrough = max(sc.Counted.SealedThrough, b.Last)
		}
	}
	sc.live = NewLive(sc.Counted.SealedThrough, sc.Batches.Counted)
	for i := range sc.Batches.Scans {
		sc.batchFindings(&sc.Batches.Scans[i])
	}
	var ids idSet
	if opts.IDs {
		ids = idSet{}
	}
	if rs.Events != nil {
		sc.walkEvents(ids)
	}
	if opts.Runs && rs.Requeued != nil {
		// The migration to format 2 deletes format 1's record
		// (DropRequeuedRuns); format 2 neither writes nor reads one.
		sc.RunsWrong = true
		sc.add(Finding{Part: PartEvents, Flaw: FlawStaleRuns}, "a requeued runs record (%d bytes) is left from format 1; format 2 keeps none", len(rs.Requeued))
	}
	sc.checkCounted()
	if rs.Dead != nil {
		sc.walkDead(rs.Dead, ids)
	}
	if rs.Done != nil {
		sc.walkDone(rs.Done)
	}
	sc.recount()
	return sc
}

func (sc *Scan) add(f Finding, format string, args ...any) {
	f.Msg = fmt.Sprintf(format, args...)
	sc.Findings = append(sc.Findings, f)
}

// batchFindings lists what is wrong with one key of the batches bucket.
func (sc *Scan) batchFindings(bs *BatchScan) {
	f := Finding{Part: PartBatches, Flaw: bs.Flaw, Seq: bs.Seq}
	b := bs.Batch
	switch bs.Flaw {
	case FlawNested, FlawBadKey:
		sc.keyFinding(PartBatches, bs.Flaw, bs.Key)
	case FlawUndecodable:
		sc.add(f, "batch %d: %v", bs.Seq, bs.Err)
	case FlawEmptyRange:
		sc.add(f, "batch %d: range [%d, %d] is empty or reversed", bs.Seq, b.First, b.Last)
	case FlawOverlaps:
		sc.add(f, "batch %d: range [%d, %d] overlaps an earlier batch ending at %d", bs.Seq, b.First, b.Last, bs.After)
	case FlawHoldsNone:
		sc.add(f, "batch %d: range [%d, %d] points at missing events (it holds none)", bs.Seq, b.First, b.Last)
	case FlawNone:
		if !bs.Tight() {
			f.Flaw = FlawNotTight
			sc.add(f, "batch %d: range [%d, %d] points at missing events", bs.Seq, b.First, b.Last)
		}
		if !bs.HolesHeld() {
			f.Flaw = FlawHoleNotHeld
			sc.add(f, "batch %d: holes %v are not all held by a value (held: %v)", bs.Seq, b.Holes, bs.Held.Holes)
		}
	}
}

// checkCounted compares each counted batch with what its range holds and
// with SealedThrough.
func (sc *Scan) checkCounted() {
	sealed := sc.Counted.SealedThrough
	for i := range sc.Batches.Scans {
		bs := &sc.Batches.Scans[i]
		if bs.Flaw != FlawNone {
			continue
		}
		b, h := bs.Batch, bs.Held
		if !bs.Agrees() {
			sc.add(Finding{Part: PartBatches, Flaw: FlawDisagrees, Seq: b.Seq}, "batch %d: record says %d events/%d bytes, range [%d, %d] holds %d/%d",
				b.Seq, b.Count, b.Bytes, b.First, b.Last, h.Count, h.Bytes)
		}
		if b.Last > sealed {
			sc.add(Finding{Part: PartBatches, Flaw: FlawPastSealed, Seq: b.Seq}, "batch %d: range [%d, %d] ends above SealedThrough %d", b.Seq, b.First, b.Last, sealed)
		}
	}
}

// recount fills in the rest of Counted and, when the state record
// decodes, lists each stored counter that disagrees with the count. The
// counters format 2 derives are not compared there: they are what the
// records say by construction, and a batch record that disagrees with its
// range is a finding of its own (FlawDisagrees).
func (sc *Scan) recount() {
	c, s := &sc.Counted, sc.Stored
	c.InflightBatches = uint64(len(sc.Batches.Counted))
	c.InflightCount, c.InflightBytes = sc.Batches.Events, sc.Batches.Bytes
	c.NextSeq = max(s.NextSeq, sc.maxEvent+1, sc.maxDead+1, c.SealedThrough+1, 1)
	c.NextBatch = max(s.NextBatch, sc.Batches.MaxSeq+1, sc.maxDone+1, 1)
	c.CompletedBatches, c.CompletedEvents, c.Created = s.CompletedBatches, s.CompletedEvents, s.Created
	if sc.StateErr != nil {
		return
	}
	f := Finding{Part: PartState, Flaw: FlawCounter}
	if s.NextSeq != c.NextSeq {
		sc.add(f, "NextSeq %d is not above every key (largest event %d, dead letter %d, sealed through %d)",
			s.NextSeq, sc.maxEvent, sc.maxDead, s.SealedThrough)
	}
	if s.NextBatch != c.NextBatch {
		sc.add(f, "NextBatch %d is not above every batch key (largest batch %d, completion %d)",
			s.NextBatch, sc.Batches.MaxSeq, sc.maxDone)
	}
	for _, p := range []struct {
		name            string
		stored, counted uint64
	}{
		{"PendingCount", s.PendingCount, c.PendingCount},
		{"PendingBytes", s.PendingBytes, c.PendingBytes},
		{"InflightBatches", s.InflightBatches, c.InflightBatches},
		{"InflightCount", s.InflightCount, c.InflightCount},
		{"InflightBytes", s.InflightBytes, c.InflightBytes},
		{"DeadCount", s.DeadCount, c.DeadCount},
		{"DeadBytes", s.DeadBytes, c.DeadBytes},
		{"DoneRecords", s.DoneRecords, c.DoneRecords},
		{"OldestNanos", uint64(s.OldestNanos), uint64(c.OldestNanos)},
	} {
		if p.stored != p.counted && !IsDerived(sc.version, p.name) {
			sc.add(f, "%s is %d, a scan finds %d", p.name, p.stored, p.counted)
		}
	}
}

// keyNames is what messages call a part's keys: one holding a bucket, and
// one that is not 8 bytes.
var keyNames = map[Part][2]string{
	PartBatches: {"batch key", "batch key"},
	PartEvents:  {"event key", "event key"},
	PartDead:    {"dead letter key", "dead-letter key"},
	PartDone:    {"completion key", "completion key"},
}

// recordKey returns the sequence number of key k of part's bucket, or
// lists it (false) when it is not a record's: v is a bucket, or k is not 8
// bytes.
func (sc *Scan) recordKey(part Part, k, v []byte) (uint64, bool) {
	seq, ok := ParseSeqKey(k)
	switch {
	case v == nil:
		sc.keyFinding(part, FlawNested, k)
	case !ok:
		sc.keyFinding(part, FlawBadKey, k)
	default:
		return seq, true
	}
	return 0, false
}

// keyFinding lists key k of part's bucket as holding a bucket (FlawNested)
// or not being 8 bytes (FlawBadKey).
func (sc *Scan) keyFinding(part Part, flaw Flaw, k []byte) {
	f := Finding{Part: part, Flaw: flaw, Key: bytes.Clone(k)}
	if flaw == FlawNested {
		sc.add(f, "%s %x is a bucket where a record belongs", keyNames[part][0], k)
		return
	}
	sc.add(f, "%s %x is not 8 bytes", keyNames[part][1], k)
}
