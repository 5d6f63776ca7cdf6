// Package migratetest gives the migration crash tests (package wal's
// TestCrashDuringMigration, walctl's TestMigrateKilled) their format 1
// file with a backlog of every kind, and the checks they run after each
// kill, through public APIs only: what the file holds (Snapshot), and that
// it drains to the last event (Drain).
package migratetest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// BuildFormat1 writes a format 1 file with a backlog of every kind
// at path and returns every event it acknowledged and did not complete, by
// stream and ID, as Snapshot describes them.
func BuildFormat1(t *testing.T, path string) map[string]map[wal.EventID]string {
	t.Helper()
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone, Store: store.Options{Format: 1}})
	require.NoError(t, err)
	acked := map[string]map[wal.EventID]string{}
	for _, name := range []string{"orders", "audit"} {
		s, err := l.Stream(name)
		require.NoError(t, err)
		ids := map[wal.EventID]string{}
		acked[name] = ids
		add := func(seq uint64, e wal.Entry) { ids[s.EventID(seq)] = Describe(e.Key, e.Payload, e.Headers) }
		// Single appends with keys and headers, then a group.
		for i := range 120 {
			e := wal.Entry{Key: fmt.Sprintf("k%d", i/40), Payload: fmt.Appendf(nil, "%s-one-%d", name, i)}
			if i%3 == 0 {
				e.Headers = map[string]string{"trace": strconv.Itoa(i), "src": name}
			}
			a, err := s.AppendEntry(e)
			require.NoError(t, err)
			add(a.Seq, e)
		}
		var many []wal.Entry
		for i := range 80 {
			many = append(many, wal.Entry{Key: "k9", Payload: fmt.Appendf(nil, "%s-many-%d", name, i)})
		}
		first, err := s.AppendMany(many)
		require.NoError(t, err)
		for i, e := range many {
			add(first+uint64(i), e)
		}
		seal := func() *wal.Batch {
			res, err := s.Seal(wal.SealOptions{MaxEvents: 10, Force: true})
			require.NoError(t, err)
			require.NotNil(t, res.Batch)
			return res.Batch
		}
		done := func(b *wal.Batch, n int) {
			for seq := b.First; seq < b.First+uint64(n); seq++ {
				delete(ids, s.EventID(seq))
			}
		}
		b := seal() // completed: a completion record
		require.NoError(t, s.Complete(b.Seq))
		done(b, b.Count)
		b = seal() // dead-lettered whole
		require.NoError(t, s.DeadLetter(b.Seq, "rejected", true))
		b = seal() // some events dead, the rest left in flight
		_, err = s.DeadLetterEvents(b.Seq, []wal.EventReason{{Seq: b.First + 1, Reason: "bad"}, {Seq: b.First + 4, Reason: "worse"}})
		require.NoError(t, err)
		b = seal() // partly completed, left in flight
		_, err = s.CompletePartial(b.Seq, 4)
		require.NoError(t, err)
		done(b, 4)
		b = seal() // retried later, left in flight
		_, err = s.Retry(b.Seq, time.Now().Add(time.Hour), "503")
		require.NoError(t, err)
		seal() // sealed, left in flight
		// Some dead letters back to pending, as a requeued run.
		var dead []wal.EventID
		require.NoError(t, s.ForEachDead(func(d wal.DeadLetter) error {
			require.NoError(t, d.Err)
			if len(dead) < 4 {
				dead = append(dead, d.Record.ID)
			}
			return nil
		}))
		rq, err := s.Requeue(dead)
		require.NoError(t, err)
		require.Equal(t, len(dead), rq.Requeued)
	}
	require.NoError(t, l.Close())
	return acked
}

// Describe is how a Snapshot records an event.
func Describe(key string, payload []byte, headers map[string]string) string {
	var hs []string
	for k, v := range headers {
		hs = append(hs, k+"="+v)
	}
	slices.Sort(hs)
	return fmt.Sprintf("key=%q payload=%q headers=%v", key, payload, hs)
}

// Snapshot is what a WAL file holds, read through the public API: each
// stream's events (where each is, and what), batches and counters.
type Snapshot struct {
	Version uint64
	Streams map[string]*Stream
}

// Stream is one stream of a Snapshot.
type Stream struct {
	Events  map[wal.EventID]string // event -> describeEvent
	Where   map[wal.EventID]string // event -> "pending", "batch N" or "dead"
	Batches []string
	Done    []uint64 // completion records' batch sequence numbers
	Pending int64
	InFl    int64
	Dead    int64
	Compl   int64
}

// Events returns the events of every stream, by stream and ID.
func (s Snapshot) Events() map[string]map[wal.EventID]string {
	m := map[string]map[wal.EventID]string{}
	for name, ss := range s.Streams {
		m[name] = ss.Events
	}
	return m
}

func (s Snapshot) where(kind string) []wal.EventID {
	var ids []wal.EventID
	for _, ss := range s.Streams {
		for id, w := range ss.Where {
			if strings.HasPrefix(w, kind) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// InBatch returns the events in flight.
func (s Snapshot) InBatch() []wal.EventID { return s.where("batch") }

// Dead returns the dead letters.
func (s Snapshot) Dead() []wal.EventID { return s.where("dead") }

// Read reads the file at path read-only (a format 1 file stays at
// format 1).
func Read(t *testing.T, path string) Snapshot {
	t.Helper()
	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	snap := Snapshot{Version: l.Store().Info().Version, Streams: map[string]*Stream{}}
	for _, name := range l.Streams() {
		s, err := l.Stream(name)
		require.NoError(t, err)
		ss := &Stream{Events: map[wal.EventID]string{}, Where: map[wal.EventID]string{}}
		snap.Streams[name] = ss
		put := func(r wal.Record, where string) {
			_, dup := ss.Events[r.ID]
			require.False(t, dup, "%s: event %x twice", name, r.ID)
			ss.Events[r.ID] = Describe(r.Key, r.Payload, r.Headers)
			ss.Where[r.ID] = where
		}
		require.NoError(t, s.ForEachEvent(0, 0, func(r wal.Record, err error) error {
			require.NoError(t, err)
			put(r, "pending")
			return nil
		}))
		bs, err := s.Batches()
		require.NoError(t, err)
		for _, b := range bs {
			ss.Batches = append(ss.Batches, fmt.Sprintf("%d [%d,%d] count %d bytes %d attempts %d next %d err %q delivered %d holes %v",
				b.Seq, b.First, b.Last, b.Count, b.Bytes, b.Attempts, b.NextAttempt, b.LastError, b.Delivered, b.Holes))
			recs, bad, err := s.ReadBatch(&b)
			require.NoError(t, err)
			require.Empty(t, bad)
			for _, r := range recs {
				require.Equal(t, "pending", ss.Where[r.ID], "%s: batch %d's event %d", name, b.Seq, r.Seq)
				ss.Where[r.ID] = fmt.Sprintf("batch %d", b.Seq)
			}
		}
		require.NoError(t, s.ForEachDead(func(d wal.DeadLetter) error {
			require.NoError(t, d.Err)
			put(d.Record, "dead "+d.Reason)
			return nil
		}))
		require.NoError(t, s.ForEachCompletion(func(c wal.Completion) error {
			ss.Done = append(ss.Done, c.Seq)
			return nil
		}))
		st := s.Stats()
		ss.Pending, ss.InFl, ss.Dead, ss.Compl = st.PendingEvents, st.InFlightEvents, st.DeadEvents, st.CompletedEvents
	}
	return snap
}

// Drain opens the file at path for writing (migrating it if it is at
// format 1 still), delivers every batch in flight and then every pending
// event, and checks that what was delivered is exactly the events that
// were pending or in flight in want, that the dead letters stayed, and
// that the file still verifies.
func Drain(t *testing.T, path string, want Snapshot) {
	t.Helper()
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	require.Equal(t, store.FormatVersion, l.Store().Info().Version)
	for name, ws := range want.Streams {
		s, err := l.Stream(name)
		require.NoError(t, err)
		delivered := map[wal.EventID]string{}
		deliver := func(recs []wal.Record) {
			for _, r := range recs {
				_, dup := delivered[r.ID]
				require.False(t, dup, "%s: event %x delivered twice", name, r.ID)
				delivered[r.ID] = Describe(r.Key, r.Payload, r.Headers)
			}
		}
		bs, err := s.Batches()
		require.NoError(t, err)
		for _, b := range bs {
			recs, bad, err := s.ReadBatch(&b)
			require.NoError(t, err)
			require.Empty(t, bad)
			deliver(recs)
			require.NoError(t, s.Complete(b.Seq))
		}
		for {
			res, err := s.Seal(wal.SealOptions{MaxEvents: 64, Force: true})
			require.NoError(t, err)
			if res.Batch == nil {
				break
			}
			deliver(res.Records)
			require.NoError(t, s.Complete(res.Batch.Seq))
		}
		wantDelivered := map[wal.EventID]string{}
		for id, w := range ws.Where {
			if !strings.HasPrefix(w, "dead") {
				wantDelivered[id] = ws.Events[id]
			}
		}
		require.Equal(t, wantDelivered, delivered, "%s: delivered", name)
		st := s.Stats()
		require.Zero(t, st.PendingEvents+st.InFlightEvents, "%s: drained", name)
		require.Equal(t, ws.Dead, st.DeadEvents, "%s: dead letters", name)
	}
	rep, err := recovery.VerifyLog(l, nil)
	require.NoError(t, err)
	require.True(t, rep.OK(), "after the drain: %v", rep.Err())
	require.NoError(t, l.Close())
}
