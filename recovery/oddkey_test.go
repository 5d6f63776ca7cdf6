package recovery

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// An event under key 0 is at or below any SealedThrough and in no batch:
// Verify lists it (the scan took 0 for "no strays yet" and said nothing),
// and Repair makes it pending again under a new key.
func TestVerifyFindsAStrayUnderKeyZero(t *testing.T) {
	path := buildWALFormat(t, 1) // format 1 keys
	damage(t, path, "a", func(rs format.RawStream) {
		var uid [8]byte
		copy(uid[:], rs.UID)
		// As old as the counters say the oldest event is, so that only
		// the stray is wrong.
		first := rs.Events.Get(format.SeqKey(state(t, rs).SealedThrough + 1))
		r, err := format.DecodeRecord(0, first)
		require.NoError(t, err)
		r.ID = format.EventID(uid, 0)
		r.Time = time.Unix(0, state(t, rs).OldestNanos)
		require.NoError(t, rs.Events.Put(format.SeqKey(0), format.EncodeRecord(r)))
	})
	r, err := Verify(path, nil)
	require.NoError(t, err)
	require.True(t, r.Has(KindSealed), "%s", r)
	require.Contains(t, r.String(), "events 0..0 are at or below SealedThrough")

	rep, err := Repair(path, nil)
	require.NoError(t, err)
	require.True(t, rep.After.OK(), "%s", rep.After)
	require.Contains(t, strings.Join(rep.Actions, "\n"), "event 0 was sealed but in no batch: pending again as ")
	mustVerify(t, path)
}

// A key of another length inside an in-flight batch's range (after its
// last event) is not an event: Plan lists it and leaves the batch as it
// is (it narrowed the range to end at "sequence number 0" of that key, a
// reversed range), and Repair moves it to the dead letters.
func TestPlanListsAKeyOfAnotherLengthInABatch(t *testing.T) {
	path := buildWALFormat(t, 1) // format 1 keys
	var want format.Batch
	damage(t, path, "a", func(rs format.RawStream) {
		b := batches(t, rs)[0]
		want = *b
		v := rs.Events.Get(format.SeqKey(b.Last))
		require.NoError(t, rs.Events.Put(append(format.SeqKey(b.Last), 0), append([]byte(nil), v...)))
	})
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	rec, err := Plan(l, nil)
	require.NoError(t, err)
	t.Log(rec)
	a := rec.Streams[0]
	require.False(t, rec.OK())
	require.Empty(t, a.Repaired)
	require.Len(t, a.Problems, 1)
	require.Equal(t, KindRecord, a.Problems[0].Kind)
	require.Contains(t, a.Problems[0].Msg, "is not an event")
	require.Equal(t, want.First, a.Redispatch[0].First)
	require.Equal(t, want.Last, a.Redispatch[0].Last)
	require.Equal(t, want.Count, a.Redispatch[0].Count)
	require.NoError(t, l.Close())

	r, err := Verify(path, nil)
	require.NoError(t, err)
	require.True(t, r.Has(KindRecord), "%s", r)
	rep, err := Repair(path, nil)
	require.NoError(t, err)
	require.True(t, rep.After.OK(), "%s", rep.After)
	mustVerify(t, path)
}

// A nested bucket in a stream's events bucket (damage: no writer makes
// one) is not an event: Verify lists it and Repair takes it out, in
// either file format, under any key: inside an in-flight batch's range,
// among the pending events, past the last one.
func TestRepairRemovesANestedBucketInEvents(t *testing.T) {
	for _, version := range []uint64{1, 2} {
		for _, where := range []string{"batch", "pending", "past the end", "odd key"} {
			t.Run(fmt.Sprintf("format %d %s", version, where), func(t *testing.T) {
				path := buildWALFormat(t, version)
				damage(t, path, "a", func(rs format.RawStream) {
					st := state(t, rs)
					key := format.SeqKey(st.SealedThrough + 1)
					switch where {
					case "batch":
						key = format.SeqKey(batches(t, rs)[0].Last)
						require.NoError(t, rs.Events.Delete(key)) // in format 2 the run's first key may be elsewhere
					case "past the end":
						key = format.SeqKey(st.NextSeq + 10)
					case "odd key":
						key = []byte("zz")
					}
					if where == "pending" {
						require.NoError(t, rs.Events.Delete(key))
					}
					nb, err := rs.Events.CreateBucket(key)
					require.NoError(t, err)
					require.NoError(t, nb.Put([]byte("k"), []byte("v")))
				})
				r, err := Verify(path, nil)
				require.NoError(t, err)
				require.False(t, r.OK(), "a nested bucket in events/ is damage")
				rep, err := Repair(path, nil)
				require.NoError(t, err)
				require.True(t, rep.After.OK(), "%s", rep.After)
				mustVerify(t, path)
			})
		}
	}
}
