package recovery

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// contents is every event a stream holds, by ID, with where it is.
type contents struct {
	ids     []string // event and dead-letter IDs that decode, sorted
	corrupt int      // records that do not decode, anywhere
	dead    map[string]string
}

func readContents(t *testing.T, path, name string) contents {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	c := contents{dead: map[string]string{}}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		rs, ok := format.RawStreamOf(tx, name)
		require.True(t, ok)
		require.NoError(t, rs.Events.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			if r, err := format.DecodeRecord(seq, v); err == nil {
				c.ids = append(c.ids, wal.EventID(r.ID).String())
			} else {
				c.corrupt++
			}
			return nil
		}))
		return rs.Dead.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			d, err := format.DecodeDeadRecord(v)
			require.NoError(t, err)
			if r, err := format.DecodeRecord(seq, d.Record); err == nil {
				c.ids = append(c.ids, wal.EventID(r.ID).String())
				c.dead[wal.EventID(r.ID).String()] = d.Reason
			} else {
				c.corrupt++
				c.dead[k2s(k)] = d.Reason
			}
			return nil
		})
	}))
	sort.Strings(c.ids)
	return c
}

func k2s(k []byte) string { return fmt.Sprintf("key-%x", k) }

func putBatch(t *testing.T, rs format.RawStream, b *format.Batch) {
	v, err := format.EncodeBatch(b)
	require.NoError(t, err)
	require.NoError(t, rs.Batches.Put(format.SeqKey(b.Seq), v))
}

func batches(t *testing.T, rs format.RawStream) []*format.Batch {
	var out []*format.Batch
	require.NoError(t, rs.Batches.ForEach(func(k, v []byte) error {
		seq, _ := format.ParseSeqKey(k)
		b, err := format.DecodeBatch([8]byte{}, seq, v)
		require.NoError(t, err)
		out = append(out, b)
		return nil
	}))
	return out
}

// flipIn flips a byte inside the payload of the event at seq.
func flipIn(t *testing.T, rs format.RawStream, seq uint64) {
	v := append([]byte(nil), rs.Events.Get(format.SeqKey(seq))...)
	require.NotEmpty(t, v)
	v[len(v)-7] ^= 0x20
	require.NoError(t, rs.Events.Put(format.SeqKey(seq), v))
}

func TestDamageDetectedAndRepaired(t *testing.T) {
	cases := []struct {
		name   string
		kind   Kind
		opens  bool // wal.Open still works on the damaged file
		damage func(t *testing.T, rs format.RawStream)
		check  func(t *testing.T, before, after contents)
	}{
		{name: "counter drift", kind: KindCounter, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			st := state(t, rs)
			st.PendingCount += 5
			st.DeadBytes = 1
			require.NoError(t, rs.PutState(st))
		}},
		{name: "next seq behind", kind: KindCounter, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			st := state(t, rs)
			st.NextSeq = 10
			require.NoError(t, rs.PutState(st))
		}},
		{name: "dangling batch", kind: KindBatch, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			b := batches(t, rs)[0]
			b.First, b.Last = 1, 2 // completed long ago: no events
			putBatch(t, rs, b)
		}},
		{name: "batch end missing", kind: KindBatch, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			bs := batches(t, rs)
			bs[1].Last += 100
			putBatch(t, rs, bs[1])
		}},
		{name: "overlapping ranges", kind: KindBatch, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			bs := batches(t, rs)
			bs[1].First = bs[0].Last
			putBatch(t, rs, bs[1])
		}},
		{name: "batch record garbage", kind: KindBatch, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			bs := batches(t, rs)
			require.NoError(t, rs.Batches.Put(format.SeqKey(bs[0].Seq), []byte{0xc1, 0xff}))
		}},
		{name: "crc flip pending", kind: KindRecord, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			st := state(t, rs)
			flipIn(t, rs, st.SealedThrough+2)
		}, check: func(t *testing.T, before, after contents) {
			require.Equal(t, 1, after.corrupt)
			n := 0
			for _, reason := range after.dead {
				if strings.HasPrefix(reason, "corrupt: ") {
					n++
				}
			}
			require.Equal(t, 1, n)
		}},
		{name: "crc flip in flight", kind: KindRecord, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			flipIn(t, rs, batches(t, rs)[0].First)
		}},
		{name: "bad state record", kind: KindState, damage: func(t *testing.T, rs format.RawStream) {
			require.NoError(t, rs.Bucket.Put([]byte("state"), []byte("short")))
		}},
		{name: "missing bucket", kind: KindBucket, damage: func(t *testing.T, rs format.RawStream) {
			require.NoError(t, rs.Bucket.DeleteBucket([]byte("done")))
		}},
		{name: "missing uid", kind: KindBucket, damage: func(t *testing.T, rs format.RawStream) {
			require.NoError(t, rs.Bucket.Delete([]byte("uid")))
		}},
		{name: "requeued runs lost", kind: KindCounter, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			require.NotNil(t, rs.Requeued)
			require.NoError(t, rs.Bucket.Delete([]byte("requeued")))
		}},
		{name: "requeued runs garbage", kind: KindCounter, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			require.NoError(t, rs.Bucket.Put([]byte("requeued"), []byte("garbage")))
		}},
		{name: "requeued run too wide", kind: KindCounter, opens: true, damage: func(t *testing.T, rs format.RawStream) {
			runs, err := format.DecodeRequeuedRuns(rs.Requeued)
			require.NoError(t, err)
			runs[0].First = state(t, rs).SealedThrough // an event that was not requeued
			require.NoError(t, rs.PutRequeuedRuns(runs))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := buildWALFormat(t, 1) // the damage below is written as format 1 keys
			before := readContents(t, path, "a")
			damage(t, path, "a", func(rs format.RawStream) { tc.damage(t, rs) })

			r, err := Verify(path, nil)
			require.NoError(t, err)
			require.False(t, r.OK())
			require.True(t, r.Has(tc.kind), "%s", r)
			for _, p := range r.Problems {
				require.Equal(t, "a", p.Stream, "%s", p)
				require.NotContains(t, p.String(), "\n")
			}
			t.Log(r)

			l, err := wal.Open(path, &wal.Options{ReadOnly: true})
			if tc.opens {
				require.NoError(t, err)
				require.NoError(t, l.Close())
			} else {
				require.ErrorIs(t, err, store.ErrCorrupt)
			}

			rep, err := Repair(path, nil)
			require.NoError(t, err)
			t.Log(rep)
			require.NotEmpty(t, rep.Actions)
			require.FileExists(t, rep.Backup)
			require.True(t, strings.HasPrefix(filepath.Base(rep.Backup), "w.db.broken-"))
			require.True(t, rep.After.OK(), "%s", rep.After)
			mustVerify(t, path)

			after := readContents(t, path, "a")
			if tc.check != nil {
				tc.check(t, before, after)
			} else if tc.kind == KindRecord {
				require.Equal(t, 1, after.corrupt)
			}
			// Nothing acknowledged is gone: every ID is still there.
			for _, id := range before.ids {
				if after.corrupt == 0 {
					require.Contains(t, after.ids, id)
				}
			}
			require.Equal(t, len(before.ids)+before.corrupt, len(after.ids)+after.corrupt)

			// The repaired file opens and its stream works.
			l, err = wal.Open(path, nil)
			require.NoError(t, err)
			s, err := l.Stream("a")
			require.NoError(t, err)
			_, err = s.Append("", []byte("after repair"))
			require.NoError(t, err)
			require.NoError(t, l.Close())
			mustVerify(t, path)

			// The backup is the damaged file, unchanged.
			br, err := Verify(rep.Backup, nil)
			require.NoError(t, err)
			require.False(t, br.OK())
		})
	}
}

func TestRepairHealthyFileChangesNothing(t *testing.T) {
	path := buildWAL(t)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	rep, err := Repair(path, nil)
	require.NoError(t, err)
	require.Empty(t, rep.Backup)
	require.Empty(t, rep.Actions)
	fi2, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fi.ModTime(), fi2.ModTime())
	entries, _ := os.ReadDir(filepath.Dir(path))
	require.Len(t, entries, 1)
}
