package format

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkSeekEnvelopes seeks to each event of a format 2 file that
// still holds a migrated format 1 file's envelopes, one event per key:
// what Resolve pays per event named in a per-event outcome.
func BenchmarkSeekEnvelopes(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "b.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	uid := [8]byte{1}
	const n = 20_000
	if err := db.Update(func(tx *bolt.Tx) error {
		ev, err := tx.CreateBucket([]byte("events"))
		if err != nil {
			return err
		}
		for seq := uint64(1); seq <= n; seq++ {
			body := AppendRecordBody(nil, int64(seq), "", make([]byte, 100), nil)
			if err := ev.Put(SeqKey(seq), SealRecord(body, EventID(uid, seq))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := db.View(func(tx *bolt.Tx) error {
		cur := NewEventCursor(tx.Bucket([]byte("events")), uid, true, n)
		for i := range b.N {
			seq := uint64(i%n) + 1
			if !cur.Seek(seq) || cur.Seq() != seq {
				b.Fatalf("seek %d", seq)
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}
