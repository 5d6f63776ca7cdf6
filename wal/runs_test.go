package wal

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// openRuns opens a log whose writer writes runs (format 2's values).
func openRuns(t *testing.T) (*Log, *Stream) {
	t.Helper()
	l, _ := mustOpen(t, nil)
	l.runs = true
	return l, mustStream(t, l, "s")
}

// valuesOf returns the keys of the stream's events bucket and how many of
// them hold runs.
func valuesOf(t *testing.T, s *Stream) (keys []uint64, runs int) {
	t.Helper()
	require.NoError(t, storetx.View(s.l.db, func(tx *bolt.Tx) error {
		events, err := s.sub(tx, format.BucketEvents)
		if err != nil {
			return err
		}
		return events.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			keys = append(keys, seq)
			if v[0] == 2 {
				runs++
			}
			return nil
		})
	}))
	return keys, runs
}

// runModel is what a stream of runs should hold: every live event's
// payload by sequence number, and the counters.
type runModel struct {
	live  map[uint64][]byte
	stats statsOf
}

func (m *runModel) check(t *testing.T, s *Stream, step string) {
	t.Helper()
	require.Equal(t, m.stats, statsNow(s), step)
	got := map[uint64][]byte{}
	require.NoError(t, s.ForEachEvent(0, 0, func(r Record, err error) error {
		require.NoError(t, err, step)
		got[r.Seq] = append([]byte(nil), r.Payload...)
		return nil
	}), step)
	require.Equal(t, len(m.live), len(got), step)
	for seq, p := range m.live {
		require.Equal(t, p, got[seq], "%s: event %d", step, seq)
	}
}

// One AppendMany becomes a few runs; batches cut across them; per-event
// outcomes, dead letters, partial completion and a requeue leave holes
// and delete each value once none of its events is live; at the end the
// events bucket is empty.
func TestRunsThroughEveryTransition(t *testing.T) {
	_, s := openRuns(t)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5000
	entries := make([]Entry, n)
	m := &runModel{live: map[uint64][]byte{}}
	for i := range entries {
		p := make([]byte, 20+rng.IntN(300))
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		entries[i] = Entry{Payload: p}
		if i%50 == 0 {
			entries[i].Headers = map[string]string{"i": fmt.Sprint(i)}
		}
	}
	first, err := s.AppendMany(entries)
	require.NoError(t, err)
	for i, e := range entries {
		m.live[first+uint64(i)] = e.Payload
		m.stats.Pending++
		m.stats.PendingBytes += int64(len(e.Payload))
	}
	m.check(t, s, "appended")
	keys, runs := valuesOf(t, s)
	require.Equal(t, len(keys), runs, "every value is a run")
	require.Less(t, len(keys), n/100, "runs hold many events: %d values for %d events", len(keys), n)

	seal := func(max int) *Batch {
		res, err := s.Seal(SealOptions{MaxEvents: max, Force: true})
		require.NoError(t, err)
		require.NotNil(t, res.Batch)
		b := res.Batch
		var bytes int64
		for i, r := range res.Records {
			require.Equal(t, m.live[b.First+uint64(i)], r.Payload)
			bytes += int64(len(r.Payload))
		}
		m.stats.Pending -= int64(b.Count)
		m.stats.PendingBytes -= bytes
		m.stats.InFlightBatches++
		m.stats.InFlight += int64(b.Count)
		m.stats.InFlightBytes += bytes
		return b
	}
	leave := func(seq uint64, dead bool) {
		n := int64(len(m.live[seq]))
		delete(m.live, seq)
		m.stats.InFlight--
		m.stats.InFlightBytes -= n
		if dead {
			m.stats.Dead++
			m.stats.DeadBytes += n
		} else {
			m.stats.CompletedEvents++
		}
	}

	// A batch across a run boundary, resolved per event: holes.
	b1 := seal(700)
	var delivered []uint64
	var dead []EventReason
	for seq := b1.First; seq <= b1.Last; seq++ {
		switch seq % 3 {
		case 0:
			delivered = append(delivered, seq)
			leave(seq, false)
		case 1:
			if seq%7 == 0 {
				dead = append(dead, EventReason{Seq: seq, Reason: "no"})
				leave(seq, true)
			}
		}
	}
	b1, err = s.Resolve(b1.Seq, delivered, dead, time.Time{}, "partly")
	require.NoError(t, err)
	require.NotNil(t, b1)
	require.NotEmpty(t, b1.Holes, "events left the middle of runs that stay")
	m.check(t, s, "resolved")
	got, err := s.InFlight(b1.Seq)
	require.NoError(t, err)
	require.Equal(t, b1, got, "the holes are stored")
	recs, bad, err := s.ReadBatch(b1)
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, recs, b1.Count)
	for _, r := range recs {
		require.Equal(t, m.live[r.Seq], r.Payload)
	}

	// A second batch: a prefix delivered, then some events dead-lettered
	// alone, then the rest dead-lettered with the batch.
	b2 := seal(1500)
	b2, err = s.CompletePartial(b2.Seq, 400)
	require.NoError(t, err)
	for seq := b2.First - 400; seq < b2.First; seq++ {
		leave(seq, false)
	}
	m.check(t, s, "partly completed")
	var evs []EventReason
	for seq := b2.First + 10; seq < b2.First+100; seq += 9 {
		evs = append(evs, EventReason{Seq: seq, Reason: "undecodable"})
		leave(seq, true)
	}
	_, err = s.DeadLetterEvents(b2.Seq, evs)
	require.NoError(t, err)
	m.check(t, s, "dead-lettered events")
	b2, err = s.InFlight(b2.Seq)
	require.NoError(t, err)
	for seq := b2.First; seq <= b2.Last; seq++ {
		if _, ok := m.live[seq]; ok && !(*format.Batch)(b2).InHole(seq) {
			leave(seq, true)
		}
	}
	require.NoError(t, s.DeadLetter(b2.Seq, "gave up", true))
	m.stats.InFlightBatches--
	m.check(t, s, "dead-lettered batch")

	// Everything dead comes back, as runs with the events' own IDs.
	res, err := s.Requeue(nil)
	require.NoError(t, err)
	require.Equal(t, int(m.stats.Dead), res.Requeued)
	var ids []EventID // of the requeued events
	require.NoError(t, s.ForEachEvent(0, 0, func(r Record, err error) error {
		require.NoError(t, err)
		if r.Seq >= first+n {
			ids = append(ids, r.ID)
			orig := binary.BigEndian.Uint64(r.ID[8:])
			require.Equal(t, eventID(s.uid, orig), r.ID)
			require.Less(t, orig, first+n, "the ID of its first append")
		}
		return nil
	}))
	require.Len(t, ids, res.Requeued)
	// The requeued events now sit at the end; rebuild the model from the
	// log (their payloads were checked by ForEachEvent's decode).
	m.live = map[uint64][]byte{}
	require.NoError(t, s.ForEachEvent(0, 0, func(r Record, err error) error {
		m.live[r.Seq] = append([]byte(nil), r.Payload...)
		return err
	}))
	m.stats.Pending += m.stats.Dead
	m.stats.PendingBytes += m.stats.DeadBytes
	m.stats.Dead, m.stats.DeadBytes = 0, 0
	m.check(t, s, "requeued")

	// Drain: complete the first batch, then everything else in batches.
	require.NoError(t, s.Complete(b1.Seq))
	for seq := b1.First; seq <= b1.Last; seq++ {
		if _, ok := m.live[seq]; ok && !(*format.Batch)(b1).InHole(seq) {
			leave(seq, false)
		}
	}
	m.stats.InFlightBatches--
	m.stats.CompletedBatches++
	m.check(t, s, "completed the first")
	for m.stats.Pending > 0 {
		b := seal(333)
		require.NoError(t, s.Complete(b.Seq))
		for seq := b.First; seq <= b.Last; seq++ {
			if _, ok := m.live[seq]; ok {
				leave(seq, false)
			}
		}
		m.stats.InFlightBatches--
		m.stats.CompletedBatches++
	}
	m.check(t, s, "drained")
	keys, _ = valuesOf(t, s)
	require.Empty(t, keys, "every value deleted once none of its events was live")
	require.True(t, s.Stats().OldestPending.IsZero())
}
