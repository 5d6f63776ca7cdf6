package format

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

var scanUID = [8]byte{9, 8, 7, 6, 5, 4, 3, 2}

// scanFixture is a stream as the transitions leave it: events 1..5 and 7;
// batch 2 holds [1, 2] and batch 3 holds [3, 3] (SealedThrough 3), so 4,
// 5 and 7 are pending; 7 is event 6 requeued (older than the others, in
// the run [7, 7]); dead letter 8; completion record 1 (batch 1 delivered
// event 0, long gone). Its counters are right.
type scanFixture struct {
	rs RawStream
	st State
}

func scanEvent(seq, idSeq uint64, at int64, payload string) []byte {
	return EncodeRecord(Record{ID: EventID(scanUID, idSeq), Time: time.Unix(0, at), Payload: []byte(payload)})
}

func newScanFixture(t *testing.T, tx *bolt.Tx) scanFixture {
	t.Helper()
	putTestMeta(t, tx, 1)
	rs, err := CreateRawStream(tx, "s")
	require.NoError(t, err)
	require.NoError(t, rs.PutUID(scanUID))
	for seq := uint64(1); seq <= 5; seq++ {
		require.NoError(t, rs.Events.Put(SeqKey(seq), scanEvent(seq, seq, 1000+int64(seq), "abc")))
	}
	require.NoError(t, rs.Events.Put(SeqKey(7), scanEvent(7, 6, 500, "requeued")))
	require.NoError(t, rs.PutRequeuedRuns([]RequeuedRun{{7, 7}}))
	for _, b := range []Batch{{Seq: 2, First: 1, Last: 2, Count: 2, Bytes: 6}, {Seq: 3, First: 3, Last: 3, Count: 1, Bytes: 3}} {
		putScanBatch(t, rs, b)
	}
	d, err := EncodeDeadRecord(&DeadRecord{Record: scanEvent(8, 8, 1008, "dead!"), Reason: "400", At: 1})
	require.NoError(t, err)
	require.NoError(t, rs.Dead.Put(SeqKey(8), d))
	c, err := EncodeCompletion(&Completion{Seq: 1, Count: 1, Bytes: 3, Attempts: 1, CompletedAt: 1})
	require.NoError(t, err)
	require.NoError(t, rs.Done.Put(SeqKey(1), c))
	st := State{NextSeq: 9, SealedThrough: 3, NextBatch: 4, PendingCount: 3, PendingBytes: 3 + 3 + 8,
		InflightBatches: 2, InflightCount: 3, InflightBytes: 9, DeadCount: 1, DeadBytes: 5,
		CompletedBatches: 1, CompletedEvents: 1, OldestNanos: 500, DoneRecords: 1, Created: 7}
	require.NoError(t, rs.PutState(st))
	rs, _ = RawStreamOf(tx, "s")
	return scanFixture{rs, st}
}

func putScanBatch(t *testing.T, rs RawStream, b Batch) {
	t.Helper()
	v, err := EncodeBatch(&b)
	require.NoError(t, err)
	require.NoError(t, rs.Batches.Put(SeqKey(b.Seq), v))
}

// scanDamaged builds the fixture, lets damage change it, and scans it.
func scanDamaged(t *testing.T, opts ScanOptions, damage func(f scanFixture)) *Scan {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "scan.db"), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	tx, err := db.Begin(true)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	f := newScanFixture(t, tx)
	if damage != nil {
		damage(f)
	}
	rs, _ := RawStreamOf(tx, "s")
	return ScanStream(rs, scanUID, opts)
}

func flaws(sc *Scan) []Flaw {
	var out []Flaw
	for _, f := range sc.Findings {
		out = append(out, f.Flaw)
	}
	return out
}

func TestScanHealthyStream(t *testing.T) {
	var want State
	sc := scanDamaged(t, ScanOptions{IDs: true}, func(f scanFixture) { want = f.st })
	require.Empty(t, sc.Findings)
	require.NoError(t, sc.StateErr)
	require.NoError(t, sc.RunsErr)
	require.Equal(t, want, sc.Stored)
	require.Equal(t, want, sc.Counted)
	require.EqualValues(t, 6, sc.Events)
	require.False(t, sc.RunsWrong)
	require.Equal(t, []RequeuedRun{{7, 7}}, sc.Requeued)
	require.Len(t, sc.Batches.Counted, 2)
	require.Equal(t, Held{Count: 2, Bytes: 6, First: 1, Last: 2}, sc.Batches.Scans[0].Held)
}

// Each damage is found as its flaw, in the order of the walk, with the
// counters a scan derives; a repair can act on Seq, Key, First and Last.
func TestScanFindsEachFlaw(t *testing.T) {
	put := func(b *bolt.Bucket, k []byte, v []byte) {
		if err := b.Put(k, v); err != nil {
			panic(err)
		}
	}
	for _, tc := range []struct {
		name   string
		opts   ScanOptions
		damage func(f scanFixture)
		want   []Flaw
		check  func(t *testing.T, sc *Scan)
	}{
		{"nested and malformed keys", ScanOptions{}, func(f scanFixture) {
			for _, b := range []*bolt.Bucket{f.rs.Events, f.rs.Batches, f.rs.Dead, f.rs.Done} {
				_, _ = b.CreateBucket(SeqKey(40))
				put(b, []byte("odd"), []byte("x"))
			}
		}, []Flaw{FlawNested, FlawBadKey, FlawNested, FlawBadKey, FlawNested, FlawBadKey, FlawNested, FlawBadKey}, func(t *testing.T, sc *Scan) {
			require.Equal(t, []Part{PartBatches, PartBatches, PartEvents, PartEvents, PartDead, PartDead, PartDone, PartDone}, parts(sc))
			require.Equal(t, []byte("odd"), sc.Findings[1].Key)
			require.Equal(t, SeqKey(40), sc.Findings[2].Key)
			require.Zero(t, sc.Findings[2].Seq, "a finding about a key names no sequence number")
			require.Equal(t, "dead-letter key 6f6464 is not 8 bytes", sc.Findings[5].Msg)
		}},
		{"corrupt event in a batch", ScanOptions{}, func(f scanFixture) {
			v := append([]byte(nil), f.rs.Events.Get(SeqKey(2))...)
			v[len(v)-7] ^= 1
			put(f.rs.Events, SeqKey(2), v)
		}, []Flaw{FlawCorrupt, FlawDisagrees, FlawCounter}, func(t *testing.T, sc *Scan) {
			require.EqualValues(t, 2, sc.Findings[0].Seq)
			h := sc.Batches.Scans[0].Held
			require.Len(t, h.Corrupt, 1)
			require.EqualValues(t, 3+len(scanEvent(2, 2, 1002, "abc")), h.Bytes, "a corrupt record counts its stored length")
		}},
		{"strays in two runs of keys", ScanOptions{}, func(f scanFixture) {
			require.NoError(t, f.rs.Batches.Delete(SeqKey(2)))
			require.NoError(t, f.rs.Batches.Delete(SeqKey(3)))
			require.NoError(t, f.rs.Events.Delete(SeqKey(2)))
		}, []Flaw{FlawStrays, FlawStrays, FlawCounter, FlawCounter, FlawCounter}, func(t *testing.T, sc *Scan) {
			require.Equal(t, [2]uint64{1, 1}, [2]uint64{sc.Findings[0].First, sc.Findings[0].Last})
			require.Equal(t, [2]uint64{3, 3}, [2]uint64{sc.Findings[1].First, sc.Findings[1].Last})
			require.Equal(t, "events 3..3 are at or below SealedThrough 3 but in no batch", sc.Findings[1].Msg)
		}},
		{"a stray under key 0", ScanOptions{}, func(f scanFixture) {
			put(f.rs.Events, SeqKey(0), scanEvent(0, 0, 400, "zero"))
		}, []Flaw{FlawStrays, FlawCounter}, func(t *testing.T, sc *Scan) {
			require.Equal(t, "events 0..0 are at or below SealedThrough 3 but in no batch", sc.Findings[0].Msg)
		}},
		{"batch ranges", ScanOptions{}, func(f scanFixture) {
			putScanBatch(t, f.rs, Batch{Seq: 3, First: 2, Last: 3, Count: 1, Bytes: 3}) // overlaps 2
			putScanBatch(t, f.rs, Batch{Seq: 4, First: 9, Last: 6})                     // reversed
			putScanBatch(t, f.rs, Batch{Seq: 5, First: 6, Last: 6, Count: 1})           // holds none
			putScanBatch(t, f.rs, Batch{Seq: 6, First: 4, Last: 6, Count: 1, Bytes: 3}) // not tight, disagrees, past sealed
			put(f.rs.Batches, SeqKey(7), []byte("junk"))
		}, []Flaw{FlawOverlaps, FlawEmptyRange, FlawHoldsNone, FlawNotTight, FlawUndecodable, FlawStrays, FlawDisagrees, FlawPastSealed, FlawCounter, FlawCounter, FlawCounter, FlawCounter, FlawCounter},
			func(t *testing.T, sc *Scan) {
				require.Equal(t, "batch 3: range [2, 3] overlaps an earlier batch ending at 2", sc.Findings[0].Msg)
				require.Equal(t, "batch 6: record says 1 events/3 bytes, range [4, 6] holds 2/6", sc.Findings[6].Msg)
				require.EqualValues(t, 7, sc.Findings[4].Seq)
				require.EqualValues(t, 8, sc.Counted.NextBatch)
				require.EqualValues(t, 2, sc.Counted.InflightBatches)
				require.EqualValues(t, 4, sc.Counted.InflightCount)
				require.EqualValues(t, 1, sc.Counted.PendingCount)
			}},
		{"requeued runs", ScanOptions{}, func(f scanFixture) {
			require.NoError(t, f.rs.PutRequeuedRuns([]RequeuedRun{{4, 4}, {6, 6}}))
			put(f.rs.Events, SeqKey(9), scanEvent(9, 1, 1, "loose"))
			put(f.rs.Events, SeqKey(10), scanEvent(10, 2, 2, "loose"))
		}, []Flaw{FlawNotRequeued, FlawRunEmpty, FlawLoose, FlawCounter, FlawCounter, FlawCounter, FlawCounter}, func(t *testing.T, sc *Scan) {
			require.True(t, sc.RunsWrong)
			require.Equal(t, []RequeuedRun{{7, 7}, {9, 10}}, sc.Requeued)
			require.Equal(t, "3 requeued event(s) between seq 7 and 10 are in no requeued run", sc.Findings[2].Msg)
			require.EqualValues(t, 1, sc.Counted.OldestNanos)
		}},
		{"requeued runs that do not decode", ScanOptions{}, func(f scanFixture) {
			put(f.rs.Bucket, KeyRequeued, []byte("bad"))
		}, nil, func(t *testing.T, sc *Scan) {
			require.Error(t, sc.RunsErr)
			require.True(t, sc.RunsWrong)
			require.Equal(t, []RequeuedRun{{7, 7}}, sc.Requeued)
		}},
		{"dead letters and completions", ScanOptions{}, func(f scanFixture) {
			d, err := EncodeDeadRecord(&DeadRecord{Record: []byte("rotten"), Reason: "400"})
			require.NoError(t, err)
			put(f.rs.Dead, SeqKey(4), d) // an event's key, and its record fails
			d, err = EncodeDeadRecord(&DeadRecord{Record: scanEvent(9, 9, 1, "x"), Reason: "400"})
			require.NoError(t, err)
			d[len(d)-1] ^= 1
			put(f.rs.Dead, SeqKey(9), d)
			put(f.rs.Dead, SeqKey(10), []byte{0xc1})
			put(f.rs.Done, SeqKey(2), []byte{0xc1})
		}, []Flaw{FlawAlsoEvent, FlawRotten, FlawFieldSum, FlawUndecodable, FlawUndecodable, FlawCounter, FlawCounter, FlawCounter, FlawCounter},
			func(t *testing.T, sc *Scan) {
				require.Equal(t, []Part{PartDead, PartDead, PartDead, PartDead, PartDone}, parts(sc)[:5])
				require.EqualValues(t, 4, sc.Counted.DeadCount)
				require.EqualValues(t, 5+6+1+1, sc.Counted.DeadBytes)
			}},
		{"IDs", ScanOptions{IDs: true}, func(f scanFixture) {
			put(f.rs.Events, SeqKey(6), scanEvent(6, 1, 2000, "dup"))
			other := EncodeRecord(Record{ID: EventID([8]byte{1}, 8), Time: time.Unix(0, 2001)})
			put(f.rs.Events, SeqKey(8), other)
			d, err := EncodeDeadRecord(&DeadRecord{Record: scanEvent(9, 2, 1, "again"), Reason: "400"})
			require.NoError(t, err)
			put(f.rs.Dead, SeqKey(9), d)
		}, []Flaw{FlawDuplicateID, FlawForeignID, FlawLoose, FlawAlsoEvent, FlawDuplicateID, FlawCounter, FlawCounter, FlawCounter, FlawCounter, FlawCounter},
			func(t *testing.T, sc *Scan) {
				require.Equal(t, "event 6 has ID 09080706050403020000000000000001, as event 1 has", sc.Findings[0].Msg)
				require.Equal(t, "event 8 has ID 01000000000000000000000000000008, not one of stream 0908070605040302", sc.Findings[1].Msg)
				require.Equal(t, "dead letter 9 has ID 09080706050403020000000000000002, as event 2 has", sc.Findings[4].Msg)
			}},
		{"no state record", ScanOptions{}, func(f scanFixture) {
			require.NoError(t, f.rs.Bucket.Delete(KeyState))
		}, nil, func(t *testing.T, sc *Scan) {
			require.Error(t, sc.StateErr)
			require.Zero(t, sc.Stored)
			require.EqualValues(t, 3, sc.Counted.SealedThrough, "the end of the last batch")
			require.EqualValues(t, 9, sc.Counted.NextSeq)
			require.EqualValues(t, 4, sc.Counted.NextBatch)
		}},
		{"missing buckets", ScanOptions{}, func(f scanFixture) {
			for _, name := range SubBuckets {
				require.NoError(t, f.rs.Bucket.DeleteBucket([]byte(name)))
			}
		}, []Flaw{FlawCounter, FlawCounter, FlawCounter, FlawCounter, FlawCounter, FlawCounter, FlawCounter, FlawCounter, FlawCounter}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := scanDamaged(t, tc.opts, tc.damage)
			require.Equal(t, tc.want, flaws(sc), "%v", sc.Findings)
			for _, f := range sc.Findings {
				require.NotEmpty(t, f.Msg)
			}
			if tc.check != nil {
				tc.check(t, sc)
			}
		})
	}
}

func parts(sc *Scan) []Part {
	var out []Part
	for _, f := range sc.Findings {
		out = append(out, f.Part)
	}
	return out
}

// What a batch's range holds counts only events; the other keys a cursor
// meets before the first event above the range, which package wal would
// read as part of it, are listed apart. A range holding only such keys
// holds none.
func TestHeldInListsKeysThatAreNotEvents(t *testing.T) {
	var held Held
	var scanned Batches
	scanDamaged(t, ScanOptions{}, func(f scanFixture) {
		require.NoError(t, f.rs.Events.Put(append(SeqKey(2), 0), []byte("x")))
		_, err := f.rs.Events.CreateBucket(SeqKey(6))
		require.NoError(t, err)
		held = HeldIn(Events{Bucket: f.rs.Events, UID: scanUID}, &Batch{First: 2, Last: 6})
		putScanBatch(t, f.rs, Batch{Seq: 9, First: 6, Last: 6, Count: 1})
		scanned = ScanBatches(Events{Bucket: f.rs.Events, UID: scanUID}, f.rs.Batches)
	})
	require.Equal(t, 4, held.Count)
	require.Equal(t, [2]uint64{2, 5}, [2]uint64{held.First, held.Last})
	require.Equal(t, [][]byte{append(SeqKey(2), 0), SeqKey(6)}, held.Odd)
	require.Len(t, scanned.Scans, 3)
	require.Equal(t, FlawHoldsNone, scanned.Scans[2].Flaw)
	require.Equal(t, [][]byte{SeqKey(6)}, scanned.Scans[2].Held.Odd)
	require.Len(t, scanned.Counted, 2)
	require.EqualValues(t, 3, scanned.Events)
	require.EqualValues(t, 9, scanned.MaxSeq)
}

// runsStream writes a format 2 stream: run 1..6 in batch 2 [1, 6] with
// hole [3, 4] (dead letters 3 and 4), run 7..10 in batch 3 [7, 8] (9 and
// 10 garbage), run 11..15 pending; its counters right.
func runsStream(t *testing.T, tx *bolt.Tx) RawStream {
	t.Helper()
	putTestMeta(t, tx, 2)
	rs, err := CreateRawStream(tx, "s")
	require.NoError(t, err)
	require.NoError(t, rs.PutUID(scanUID))
	for _, r := range [][2]uint64{{1, 6}, {7, 10}, {11, 15}} {
		var evs []RunEvent
		for seq := r[0]; seq <= r[1]; seq++ {
			evs = append(evs, RunEvent{ID: EventID(scanUID, seq), Time: 1000 + int64(seq), Payload: []byte("abc")})
		}
		require.NoError(t, rs.Events.Put(SeqKey(r[0]), AppendRun(nil, scanUID, r[0], evs)))
	}
	putScanBatch(t, rs, Batch{Seq: 2, First: 1, Last: 6, Holes: []uint64{3, 4}, Count: 4, Bytes: 12})
	putScanBatch(t, rs, Batch{Seq: 3, First: 7, Last: 8, Count: 2, Bytes: 6})
	for _, seq := range []uint64{3, 4} {
		d, err := EncodeDeadRecord(&DeadRecord{Record: scanEvent(seq, seq, 1000+int64(seq), "abc"), Reason: "400", At: 1})
		require.NoError(t, err)
		require.NoError(t, rs.Dead.Put(SeqKey(seq), d))
	}
	require.NoError(t, rs.PutState(State{NextSeq: 16, SealedThrough: 10, NextBatch: 4, PendingCount: 5, PendingBytes: 15,
		InflightBatches: 2, InflightCount: 6, InflightBytes: 18, DeadCount: 2, DeadBytes: 6, OldestNanos: 1001}))
	rs, _ = RawStreamOf(tx, "s")
	return rs
}

// In a format 2 file a scan counts and checks the live events only: the
// events of a run in a batch's holes or past its tightened Last are
// garbage, and a dead letter under one of their keys is no damage. A run
// whose header fails is one finding; a value with no live event at or
// below SealedThrough is a stray; a hole no value holds is a finding.
func TestScanRuns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(rs RawStream)
		want   []Flaw
		check  func(t *testing.T, sc *Scan)
	}{
		{"sound", nil, nil, func(t *testing.T, sc *Scan) {
			require.Equal(t, sc.Stored, sc.Counted)
			require.EqualValues(t, 15, sc.Events, "every event values hold, garbage included")
			require.False(t, sc.AlsoEvent(3), "a dead-lettered event in a hole")
			require.True(t, sc.AlsoEvent(5))
			require.False(t, sc.AlsoEvent(9), "a delivered event past the batch's Last")
			require.True(t, sc.AlsoEvent(12))
		}},
		{"a record in a hole fails", func(rs RawStream) {
			v := append([]byte(nil), rs.Events.Get(SeqKey(1))...)
			run, err := ParseRun(scanUID, 1, v)
			require.NoError(t, err)
			v[len(v)-run.end(5)+run.end(2)-1] ^= 1 // the crc of record 2: seq 3
			require.NoError(t, rs.Events.Put(SeqKey(1), v))
		}, nil, nil},
		{"a record in flight fails", func(rs RawStream) {
			v := append([]byte(nil), rs.Events.Get(SeqKey(1))...)
			v[len(v)-1] ^= 1 // record 6's crc
			require.NoError(t, rs.Events.Put(SeqKey(1), v))
		}, []Flaw{FlawCorrupt, FlawDisagrees}, func(t *testing.T, sc *Scan) {
			// The in-flight counters are derived from the batch record
			// in format 2: its disagreement is the one finding.
			require.EqualValues(t, 6, sc.Findings[0].Seq)
			require.Equal(t, []HeldCorrupt{{6, sc.Batches.Scans[0].Held.Corrupt[0].Err}}, sc.Batches.Scans[0].Held.Corrupt)
		}},
		{"a run header fails", func(rs RawStream) {
			v := append([]byte(nil), rs.Events.Get(SeqKey(11))...)
			v[2] ^= 1 // the count
			require.NoError(t, rs.Events.Put(SeqKey(11), v))
		}, []Flaw{FlawCorrupt, FlawCounter}, func(t *testing.T, sc *Scan) {
			require.EqualValues(t, 11, sc.Findings[0].Seq)
			require.Contains(t, sc.Findings[0].Msg, "(events 11..15)")
			require.EqualValues(t, 5, sc.Counted.PendingCount, "its events are there, unreadable")
			require.Equal(t, "PendingBytes is 15, a scan finds "+fmt.Sprint(len(rs(sc).Events.Get(SeqKey(11)))), sc.Findings[1].Msg)
		}},
		{"a stray value", func(rs RawStream) {
			require.NoError(t, rs.Batches.Delete(SeqKey(3)))
		}, []Flaw{FlawStrays}, func(t *testing.T, sc *Scan) {
			// The in-flight counters, derived in format 2, follow the
			// records: no counter is wrong.
			require.Equal(t, [2]uint64{7, 10}, [2]uint64{sc.Findings[0].First, sc.Findings[0].Last})
			require.EqualValues(t, 1, sc.Stored.InflightBatches)
		}},
		{"a value overlapping a run", func(rs RawStream) {
			ev := []RunEvent{{ID: EventID(scanUID, 5), Time: 1005, Payload: []byte("abc")}}
			require.NoError(t, rs.Events.Put(SeqKey(5), AppendRun(nil, scanUID, 5, ev)))
		}, []Flaw{FlawKeyInValue}, func(t *testing.T, sc *Scan) {
			require.Equal(t, "value at 5 (events 5..5) overlaps the value before it, whose events reach 6", sc.Findings[0].Msg)
			require.Equal(t, sc.Stored, sc.Counted, "its events are not read")
		}},
		{"a hole no value holds", func(rs RawStream) {
			require.NoError(t, rs.Events.Delete(SeqKey(1)))
			for _, seq := range []uint64{1, 2, 5, 6} {
				ev := []RunEvent{{ID: EventID(scanUID, seq), Time: 1000 + int64(seq), Payload: []byte("abc")}}
				require.NoError(t, rs.Events.Put(SeqKey(seq), AppendRun(nil, scanUID, seq, ev)))
			}
		}, []Flaw{FlawHoleNotHeld}, func(t *testing.T, sc *Scan) {
			require.Nil(t, sc.Batches.Scans[0].Held.Holes)
			require.Equal(t, "batch 2: holes [3 4] are not all held by a value (held: [])", sc.Findings[0].Msg)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := bolt.Open(filepath.Join(t.TempDir(), "scan.db"), 0o600, nil)
			require.NoError(t, err)
			defer db.Close()
			tx, err := db.Begin(true)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			rs := runsStream(t, tx)
			if tc.damage != nil {
				tc.damage(rs)
			}
			rs, _ = RawStreamOf(tx, "s")
			sc := ScanStream(rs, scanUID, ScanOptions{IDs: true, Runs: true})
			require.Equal(t, tc.want, flaws(sc), "%v", sc.Findings)
			if tc.check != nil {
				tc.check(t, sc)
			}
		})
	}
}

// rs returns the stream a scan read.
func rs(sc *Scan) RawStream { return RawStream{Events: sc.events.Bucket} }
