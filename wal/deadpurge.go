package wal

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// PurgeDeadEvents deletes the dead letters whose event IDs are in ids, in
// one transaction, and returns how many it deleted; IDs not among the dead
// letters are ignored, and an empty ids deletes nothing (PurgeDead deletes
// all). A dead letter whose record is corrupt has no ID to select it by:
// only PurgeDead removes it. There is no undo.
func (s *Stream) PurgeDeadEvents(ids []EventID) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	want := make(map[EventID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		n = 0
		dead, err := s.sub(tx, format.BucketDead)
		if err != nil {
			return refuse(err)
		}
		var keys [][]byte
		var bytes uint64
		err = dead.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			d, err := decodeDead(seq, v)
			if err != nil {
				return err
			}
			if d.Err == nil && want[d.Record.ID] {
				keys = append(keys, append([]byte(nil), k...))
				bytes += uint64(len(d.Record.Payload))
			}
			return nil
		})
		if err != nil {
			return refuse(err)
		}
		for _, k := range keys {
			if err := dead.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		purged(st, uint64(n), bytes)
		return nil
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("wal: purge %q: %w", s.name, err)
	}
	return n, nil
}
