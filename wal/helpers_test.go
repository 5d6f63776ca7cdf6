package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// mustOpen opens a log in a fresh temporary directory, closes it in
// Cleanup, and checks the file's invariants (checkLog) after closing it: a
// test that leaves counters out of line with the buckets fails even if it
// asserted nothing about them.
func mustOpen(t testing.TB, opts *Options) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wal.db")
	return openAt(t, path, opts), path
}

// openAt opens the log at path with the same Cleanup as mustOpen.
func openAt(t testing.TB, path string, opts *Options) *Log {
	t.Helper()
	l, err := Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, l.Close())
		ro, err := Open(path, &Options{ReadOnly: true})
		require.NoError(t, err)
		defer ro.Close()
		require.NoError(t, checkLog(ro))
	})
	return l
}

func mustStream(t testing.TB, l *Log, name string) *Stream {
	t.Helper()
	s, err := l.Stream(name)
	require.NoError(t, err)
	return s
}

// reopen closes l and opens the same file again with opts.
func reopen(t testing.TB, l *Log, opts *Options) *Log {
	t.Helper()
	path := l.Path()
	require.NoError(t, l.Close())
	return openAt(t, path, opts)
}

// scan is what a full walk of a stream's buckets finds.
type scan struct {
	pending, pendingBytes   uint64
	inflight, inflightBytes uint64
	batches                 uint64
	dead, deadBytes         uint64
	done                    uint64
	oldest                  int64
	ids                     map[EventID]string // every ID in events and dead, to where it is
}

// scanStream walks one stream's buckets on a snapshot. It fails on anything
// malformed: an undecodable event, a batch whose range does not match its
// events, a duplicate event ID, requeued runs that do not hold exactly the
// requeued events in enqueue-time order. sc.oldest is the oldest enqueue
// time of the first event and of every requeued event.
func scanStream(s *Stream) (scan, format.State, error) {
	sc := scan{ids: map[EventID]string{}}
	var st format.State
	err := storetx.View(s.l.db, func(tx *bolt.Tx) error {
		b, err := s.bucket(tx)
		if err != nil {
			return err
		}
		if st, err = format.DecodeState(b.Get(format.KeyState)); err != nil {
			return err
		}
		events := b.Bucket(format.BucketEvents)
		runs, err := format.DecodeRequeuedRuns(b.Get(format.KeyRequeued))
		if err != nil {
			return err
		}
		var inRun int         // events in runs[ri]
		var prevRunTime int64 // time of the previous event in runs[ri]
		ri := 0
		endRun := func() error {
			if inRun == 0 {
				return fmt.Errorf("requeued run %v holds no event", runs[ri])
			}
			ri, inRun = ri+1, 0
			return nil
		}
		var prev uint64
		c := events.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, ok := format.ParseSeqKey(k)
			if !ok || seq <= prev || seq >= st.NextSeq {
				return fmt.Errorf("event key %x out of order or past NextSeq %d", k, st.NextSeq)
			}
			prev = seq
			r, err := decodeRecord(seq, v)
			if err != nil {
				return err
			}
			if !bytes.Equal(r.ID[:8], s.uid[:]) {
				return fmt.Errorf("event %d has ID %s from another stream", seq, r.ID)
			}
			if where, dup := sc.ids[r.ID]; dup {
				return fmt.Errorf("event ID %s at seq %d and again in %s", r.ID, seq, where)
			}
			sc.ids[r.ID] = fmt.Sprintf("events/%d", seq)
			t := r.Time.UnixNano()
			requeued := binary.BigEndian.Uint64(r.ID[8:]) != seq
			if sc.oldest == 0 {
				sc.oldest = t
			} else if requeued {
				sc.oldest = min(sc.oldest, t)
			}
			for ri < len(runs) && runs[ri].Last < seq {
				if err := endRun(); err != nil {
					return err
				}
			}
			switch inside := ri < len(runs) && runs[ri].First <= seq; {
			case inside && !requeued:
				return fmt.Errorf("event %d in requeued run %v was not requeued", seq, runs[ri])
			case inside && inRun > 0 && t < prevRunTime:
				return fmt.Errorf("event %d in requeued run %v is older than the one before it", seq, runs[ri])
			case inside:
				inRun, prevRunTime = inRun+1, t
			case requeued:
				return fmt.Errorf("requeued event %d (ID %s) is in no requeued run %v", seq, r.ID, runs)
			}
			if seq > st.SealedThrough {
				sc.pending++
				sc.pendingBytes += uint64(len(r.Payload))
			} else {
				sc.inflight++
				sc.inflightBytes += uint64(len(r.Payload))
			}
		}
		for ri < len(runs) {
			if err := endRun(); err != nil {
				return err
			}
		}
		// Each batch covers exactly Count events in [First, Last], with
		// Bytes payload bytes, and batches do not overlap.
		var inBatches, inBatchBytes uint64
		var lastEnd uint64
		err = b.Bucket(format.BucketBatches).ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			bt, err := s.decodeBatch(seq, v)
			if err != nil {
				return err
			}
			if bt.First <= lastEnd || bt.First > bt.Last || bt.Last > st.SealedThrough {
				return fmt.Errorf("batch %d range [%d,%d] overlaps or is past SealedThrough %d", seq, bt.First, bt.Last, st.SealedThrough)
			}
			lastEnd = bt.Last
			n, by := 0, int64(0)
			c := events.Cursor()
			for k, v := c.Seek(format.SeqKey(bt.First)); k != nil; k, v = c.Next() {
				if q, _ := format.ParseSeqKey(k); q > bt.Last {
					break
				}
				n++
				by += int64(format.RecordBytes(v))
			}
			if n != bt.Count || by != bt.Bytes {
				return fmt.Errorf("batch %d says %d events/%d bytes, holds %d/%d", seq, bt.Count, bt.Bytes, n, by)
			}
			if seq >= st.NextBatch {
				return fmt.Errorf("batch %d past NextBatch %d", seq, st.NextBatch)
			}
			sc.batches++
			inBatches += uint64(n)
			inBatchBytes += uint64(by)
			return nil
		})
		if err != nil {
			return err
		}
		if inBatches != sc.inflight || inBatchBytes != sc.inflightBytes {
			return fmt.Errorf("%d sealed events (%d bytes) but batches hold %d (%d bytes)", sc.inflight, sc.inflightBytes, inBatches, inBatchBytes)
		}
		err = b.Bucket(format.BucketDead).ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			d, err := decodeDead(seq, v)
			if err != nil {
				return err
			}
			sc.dead++
			if d.Err != nil {
				sc.deadBytes += uint64(len(d.Raw))
				return nil
			}
			sc.deadBytes += uint64(len(d.Record.Payload))
			if where, dup := sc.ids[d.Record.ID]; dup {
				return fmt.Errorf("dead event ID %s at %d and again in %s", d.Record.ID, seq, where)
			}
			sc.ids[d.Record.ID] = fmt.Sprintf("dead/%d", seq)
			return nil
		})
		if err != nil {
			return err
		}
		sc.done = uint64(b.Bucket(format.BucketDone).Stats().KeyN)
		return nil
	})
	return sc, st, err
}

// checkLog is the consistency check run after tests: bbolt's own page
// check, then for every stream the kept counters against a scan.
func checkLog(l *Log) error {
	err := storetx.View(l.db, func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("bbolt check: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range l.Streams() {
		s, err := l.Stream(name)
		if err != nil {
			return err
		}
		sc, st, err := scanStream(s)
		if err != nil {
			return fmt.Errorf("stream %q: %w", name, err)
		}
		type pair struct {
			what      string
			kept, got uint64
		}
		for _, p := range []pair{
			{"pending events", st.PendingCount, sc.pending},
			{"pending bytes", st.PendingBytes, sc.pendingBytes},
			{"in-flight events", st.InflightCount, sc.inflight},
			{"in-flight bytes", st.InflightBytes, sc.inflightBytes},
			{"in-flight batches", st.InflightBatches, sc.batches},
			{"dead events", st.DeadCount, sc.dead},
			{"dead bytes", st.DeadBytes, sc.deadBytes},
			{"completion records", st.DoneRecords, sc.done},
			{"oldest", uint64(st.OldestNanos), uint64(sc.oldest)},
		} {
			if p.kept != p.got {
				return fmt.Errorf("stream %q: %s: counter says %d, scan finds %d", name, p.what, p.kept, p.got)
			}
		}
		if mem := s.current(); mem != st {
			return fmt.Errorf("stream %q: in-memory state %+v differs from the file's %+v", name, mem, st)
		}
	}
	return nil
}

// payloadN is a deterministic payload for test event i.
func payloadN(i int) []byte { return fmt.Appendf(nil, "event-%06d", i) }

// appendN appends n events with payloadN(from..from+n-1) one at a time.
func appendN(t testing.TB, s *Stream, key string, from, n int) []Appended {
	t.Helper()
	out := make([]Appended, 0, n)
	for i := from; i < from+n; i++ {
		a, err := s.Append(key, payloadN(i))
		require.NoError(t, err)
		out = append(out, a)
	}
	return out
}

// eventsOf returns the stream's pending and in-flight records, in order,
// with copied payloads.
func eventsOf(t testing.TB, s *Stream) []Record {
	t.Helper()
	var out []Record
	require.NoError(t, s.ForEachEvent(0, 0, func(r Record, err error) error {
		if err != nil {
			return err
		}
		r.Payload = append([]byte(nil), r.Payload...)
		out = append(out, r)
		return nil
	}))
	return out
}

// statsOf is the subset of Stats the table tests compare exactly.
type statsOf struct {
	Pending, PendingBytes, InFlightBatches, InFlight, InFlightBytes int64
	Dead, DeadBytes, CompletedBatches, CompletedEvents              int64
}

func statsNow(s *Stream) statsOf {
	st := s.Stats()
	return statsOf{st.PendingEvents, st.PendingBytes, st.InFlightBatches, st.InFlightEvents, st.InFlightBytes,
		st.DeadEvents, st.DeadBytes, st.CompletedBatches, st.CompletedEvents}
}
