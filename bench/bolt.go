package main

import (
	"encoding/binary"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

// bbolt alone, without walbatch: what one event per key costs against
// several events per key (the file layout a future format could use).
// Each step appends 1000 encoded events (287 bytes each, the WAL's record
// size for the bench event) in one committed transaction and deletes the
// 1000 appended in the step before in another, as a WAL appending and
// completing batches does; commits are fdatasynced. The rate counts
// appended events.
func boltScenario(perKey int) func(e *env) (benchkit.Result, error) {
	return func(e *env) (benchkit.Result, error) {
		db, err := bolt.Open(filepath.Join(e.dir, "bolt.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
		if err != nil {
			return benchkit.Result{}, err
		}
		defer db.Close()
		name := []byte("events")
		if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(name); return err }); err != nil {
			return benchkit.Result{}, err
		}
		const group, recSize = 1000, 287
		val := make([]byte, recSize*perKey)
		var next, oldest uint64
		key := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
		n, secs, err := benchkit.Produce(1, e.dur, func(_, i int) (int, error) {
			err := db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(name)
				b.FillPercent = 1
				for j := 0; j < group; j += perKey {
					if err := b.Put(key(next), val); err != nil {
						return err
					}
					next += uint64(perKey)
				}
				return nil
			})
			if err != nil || i == 0 {
				return group, err
			}
			return group, db.Update(func(tx *bolt.Tx) error {
				c := tx.Bucket(name).Cursor()
				for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < oldest+group; k, _ = c.First() {
					if err := c.Delete(); err != nil {
						return err
					}
				}
				oldest += group
				return nil
			})
		})
		return benchkit.Rate("", n, secs), err
	}
}
