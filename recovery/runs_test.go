package recovery

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// A format 2 file, built directly: runs, holes and the liveness rule
// (internal/format/live.go). Stream "s":
//
//	run at 1:  events 1..6, batch 1 [1, 6] with hole [3, 4] (3 and 4 dead letters)
//	run at 7:  events 7..10, batch 2 [7, 8] (9 and 10 delivered: garbage)
//	run at 11: events 11..15, pending
//	envelope at 16, pending
//
// SealedThrough 10, NextSeq 17, counters right.
var runsUID = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}

func runsPayload(seq uint64) []byte { return fmt.Appendf(nil, "payload-%02d", seq) }

func runsEvents(first, last uint64) []format.RunEvent {
	var evs []format.RunEvent
	for seq := first; seq <= last; seq++ {
		evs = append(evs, format.RunEvent{ID: format.EventID(runsUID, seq), Time: 1000 + int64(seq), Payload: runsPayload(seq)})
	}
	return evs
}

func runsEnvelope(seq uint64) []byte {
	return format.EncodeRecord(format.Record{ID: format.EventID(runsUID, seq), Time: time.Unix(0, 1000+int64(seq)), Payload: runsPayload(seq)})
}

func putRun(t *testing.T, rs format.RawStream, first, last uint64) {
	t.Helper()
	require.NoError(t, rs.Events.Put(format.SeqKey(first), format.AppendRun(nil, runsUID, first, runsEvents(first, last))))
}

// buildRunsWAL writes the file and returns its path.
func buildRunsWAL(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v2.db")
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		require.NoError(t, tx.Bucket([]byte("walbatch")).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, 2)))
		rs, err := format.CreateRawStream(tx, "s")
		require.NoError(t, err)
		require.NoError(t, rs.PutUID(runsUID))
		putRun(t, rs, 1, 6)
		putRun(t, rs, 7, 10)
		putRun(t, rs, 11, 15)
		require.NoError(t, rs.Events.Put(format.SeqKey(16), runsEnvelope(16)))
		n := int64(len(runsPayload(1))) // every payload has this length
		putBatch(t, rs, &format.Batch{Seq: 1, First: 1, Last: 6, Holes: []uint64{3, 4}, Count: 4, Bytes: 4 * n})
		putBatch(t, rs, &format.Batch{Seq: 2, First: 7, Last: 8, Count: 2, Bytes: 2 * n})
		for _, seq := range []uint64{3, 4} {
			d, err := format.EncodeDeadRecord(&format.DeadRecord{Record: runsEnvelope(seq), Reason: "400", BatchID: format.BatchID(runsUID, 1), At: 1})
			require.NoError(t, err)
			require.NoError(t, rs.Dead.Put(format.SeqKey(seq), d))
		}
		return rs.PutState(format.State{NextSeq: 17, SealedThrough: 10, NextBatch: 3, PendingCount: 6, PendingBytes: uint64(6 * n),
			InflightBatches: 2, InflightCount: 6, InflightBytes: uint64(6 * n), DeadCount: 2, DeadBytes: uint64(2 * n),
			CompletedBatches: 1, CompletedEvents: 2, OldestNanos: 1001, Created: 1})
	}))
	return path
}

// verifyRuns checks a format 2 file's streams as Verify does. Until this
// build reads format 2 (store.FormatVersion), Verify refuses the file, and
// the stream checks run on it through bbolt directly.
func verifyRuns(t *testing.T, path string) []Problem {
	t.Helper()
	if store.FormatVersion >= 2 {
		r, err := Verify(path, &VerifyOptions{MaxProblems: -1})
		require.NoError(t, err)
		return r.Problems
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	ps := &problems{max: -1}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			ps.add(KindFile, "", 0, "bbolt check: %v", err)
		}
		checkTopLevel(tx, ps)
		streams, err := format.RawStreams(tx)
		require.NoError(t, err)
		for _, rs := range streams {
			analyze(rs, ps, true)
		}
		return nil
	}))
	return ps.list
}

// repairRuns repairs a format 2 file's streams as Repair does (see
// verifyRuns), and returns the actions.
func repairRuns(t *testing.T, path string) []string {
	t.Helper()
	if store.FormatVersion >= 2 {
		rep, err := Repair(path, nil)
		require.NoError(t, err)
		return rep.Actions
	}
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	rep := &RepairReport{}
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { return repairStreams(tx, rep, time.Unix(0, 5), true) }))
	return rep.Actions
}

// runsContents is what the stream holds after a repair: the payload of each
// live event by its ID's sequence number, and the dead letters' reasons by
// their ID's sequence number.
type runsContents struct {
	live  map[uint64]string
	dead  map[uint64]string
	state format.State
}

func readRuns(t *testing.T, path string) runsContents {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	c := runsContents{live: map[uint64]string{}, dead: map[uint64]string{}}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		rs, ok := format.RawStreamOf(tx, "s")
		require.True(t, ok)
		c.state = state(t, rs)
		sc := format.ScanBatches(format.Events{Bucket: rs.Events, UID: runsUID, Runs: true, Last: c.state.NextSeq - 1}, rs.Batches)
		live := format.NewLive(c.state.SealedThrough, sc.Counted)
		cur := format.NewEventCursor(rs.Events, runsUID, true, c.state.NextSeq-1)
		for ok := cur.Seek(0); ok; ok = cur.Next() {
			if !live.Has(cur.Seq()) {
				continue
			}
			r, err := cur.Event()
			require.NoError(t, err, "a live event that does not decode after repair")
			idSeq := binary.BigEndian.Uint64(r.ID[8:])
			require.NotContains(t, c.live, idSeq, "event ID %d twice", idSeq)
			c.live[idSeq] = string(r.Payload)
		}
		require.NoError(t, cur.Err())
		return rs.Dead.ForEach(func(k, v []byte) error {
			d, err := format.DecodeDeadRecord(v)
			require.NoError(t, err)
			seq, _ := format.ParseSeqKey(k)
			if r, err := format.DecodeRecord(seq, d.Record); err == nil {
				seq = binary.BigEndian.Uint64(r.ID[8:])
			}
			c.dead[seq] = d.Reason
			return nil
		})
	}))
	return c
}

// wantLive returns the live events of the healthy file but those in drop.
func wantLive(drop ...uint64) map[uint64]string {
	out := map[uint64]string{}
	for _, seq := range []uint64{1, 2, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16} {
		out[seq] = string(runsPayload(seq))
	}
	for _, seq := range drop {
		delete(out, seq)
	}
	return out
}

// flipRecord flips a bit of event seq's payload in the value under key.
func flipRecord(t *testing.T, rs format.RawStream, key, seq uint64) {
	t.Helper()
	v := append([]byte(nil), rs.Events.Get(format.SeqKey(key))...)
	p := string(runsPayload(seq))
	i := indexOf(v, p)
	require.GreaterOrEqual(t, i, 0)
	v[i] ^= 1 // 'p' -> 'q': no other payload becomes it
	require.NoError(t, rs.Events.Put(format.SeqKey(key), v))
}

func indexOf(v []byte, s string) int {
	for i := 0; i+len(s) <= len(v); i++ {
		if string(v[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

type seen struct {
	Kind Kind
	Seq  uint64
}

func kindsOf(ps []Problem) []seen {
	var out []seen
	for _, p := range ps {
		out = append(out, seen{p.Kind, p.Seq})
	}
	return out
}

func TestRunsFileVerifiesClean(t *testing.T) {
	path := buildRunsWAL(t)
	require.Empty(t, verifyRuns(t, path))
	require.Empty(t, repairRuns(t, path), "a sound file needs no repair")
	c := readRuns(t, path)
	require.Equal(t, wantLive(), c.live)
	require.Equal(t, map[uint64]string{3: "400", 4: "400"}, c.dead)
}

// Each damage is reported as itself (and the stored counters it puts out
// of line; the derived ones follow the records), and Repair leaves a file that verifies clean with every sound
// event still there.
func TestRunsDamageDetectedAndRepaired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(rs format.RawStream)
		want   []seen
		check  func(t *testing.T, c runsContents, actions []string)
	}{
		{"a flipped bit in a pending run's record", func(rs format.RawStream) { flipRecord(t, rs, 11, 13) },
			[]seen{{KindRecord, 13}, {KindCounter, 0}},
			func(t *testing.T, c runsContents, actions []string) {
				require.Equal(t, wantLive(13), c.live, "its neighbours kept")
				require.Contains(t, c.dead[13], "corrupt: ")
				require.EqualValues(t, 5, c.state.PendingCount)
			}},
		{"a flipped bit in an in-flight run's record", func(rs format.RawStream) { flipRecord(t, rs, 1, 5) },
			[]seen{{KindRecord, 5}, {KindBatch, 1}},
			func(t *testing.T, c runsContents, actions []string) {
				require.Equal(t, wantLive(5), c.live)
				require.Contains(t, c.dead[5], "corrupt: ")
				require.EqualValues(t, 3, c.state.InflightCount-2)
			}},
		{"a flipped bit in a hole is garbage, not damage", func(rs format.RawStream) { flipRecord(t, rs, 1, 3) }, nil,
			func(t *testing.T, c runsContents, actions []string) {
				require.Empty(t, actions)
				require.Equal(t, wantLive(), c.live)
			}},
		{"flipped bits in an in-flight record and in a hole beside it", func(rs format.RawStream) {
			flipRecord(t, rs, 1, 2)
			flipRecord(t, rs, 1, 3)
		}, []seen{{KindRecord, 2}, {KindBatch, 1}},
			func(t *testing.T, c runsContents, actions []string) {
				require.Equal(t, wantLive(2), c.live)
				require.Contains(t, c.dead[17], "it had left the stream already", "the record in the hole is kept too, under a new key")
				require.Contains(t, actions, `stream "s": batch 0102030405060708-1: holes [3 4] -> [4 4] (a hole is kept only while a value holds it)`)
			}},
		{"a damaged run header", func(rs format.RawStream) {
			v := append([]byte(nil), rs.Events.Get(format.SeqKey(11))...)
			v[5] ^= 1 // the first time, under the header's checksum
			require.NoError(t, rs.Events.Put(format.SeqKey(11), v))
		}, []seen{{KindRecord, 11}, {KindCounter, 0}},
			func(t *testing.T, c runsContents, actions []string) {
				require.Equal(t, wantLive(11, 12, 13, 14, 15), c.live)
				require.Contains(t, c.dead[11], "corrupt: ")
				require.Len(t, c.dead, 3, "the run is one dead letter")
			}},
		{"a stray value after the last batch", func(rs format.RawStream) {
			require.NoError(t, rs.Batches.Delete(format.SeqKey(2)))
		}, []seen{{KindSealed, 7}},
			func(t *testing.T, c runsContents, actions []string) {
				live := wantLive()
				live[9], live[10] = string(runsPayload(9)), string(runsPayload(10))
				require.Equal(t, live, c.live, "pending again, with the delivered ones beside them")
				require.EqualValues(t, 6, c.state.SealedThrough)
			}},
		{"a stray value between batches", func(rs format.RawStream) {
			require.NoError(t, rs.Batches.Delete(format.SeqKey(1)))
		}, []seen{{KindSealed, 1}, {KindDead, 3}, {KindDead, 4}},
			func(t *testing.T, c runsContents, actions []string) {
				live := wantLive()
				live[3], live[4] = string(runsPayload(3)), string(runsPayload(4))
				require.Equal(t, live, c.live, "moved to the end under their IDs")
				require.Contains(t, actions, `stream "s": events 1..6 were sealed but in no batch: pending again as 17..22`)
			}},
		{"a value overlapping a run", func(rs format.RawStream) {
			putRun(t, rs, 4, 5)
		}, []seen{{KindRecord, 4}},
			func(t *testing.T, c runsContents, actions []string) {
				require.Equal(t, wantLive(), c.live)
				require.Contains(t, c.dead[4+13], "overlaps", "kept whole under a new key")
			}},
		{"a hole no value holds", func(rs format.RawStream) {
			require.NoError(t, rs.Events.Delete(format.SeqKey(1)))
			putRun(t, rs, 1, 2)
			putRun(t, rs, 5, 6)
		}, []seen{{KindBatch, 1}},
			func(t *testing.T, c runsContents, actions []string) {
				require.Equal(t, wantLive(), c.live)
				require.Equal(t, []string{`stream "s": batch 0102030405060708-1: holes [3 4] -> [] (a hole is kept only while a value holds it)`}, actions)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := buildRunsWAL(t)
			damage(t, path, "s", tc.damage)
			ps := verifyRuns(t, path)
			require.Equal(t, tc.want, kindsOf(ps), "%v", ps)
			actions := repairRuns(t, path)
			require.Empty(t, verifyRuns(t, path), "%v", actions)
			c := readRuns(t, path)
			tc.check(t, c, actions)
			for seq, reason := range map[uint64]string{3: "400", 4: "400"} {
				require.Equal(t, reason, c.dead[seq], "the dead letters stay")
			}
		})
	}
}
