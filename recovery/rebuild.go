package recovery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/boltfile"
	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
)

// rebuildTxKeys and rebuildTxBytes bound the keys, and the bytes of keys
// and values, copied per transaction of a rebuild: a transaction holds
// its copies in memory until it commits, so the rebuild's memory does not
// grow with the file (large payloads included).
const (
	rebuildTxKeys  = 50000
	rebuildTxBytes = 8 << 20
)

// rebuildFile copies every bucket and key that the page reader can reach
// in path into a fresh bbolt file and, if that file is a WAL (its meta
// bucket survived), replaces path with it atomically. Keys on damaged
// pages are not in the new file; they stay in the backup.
func rebuildFile(path string, rep *RepairReport) error {
	tmp := path + ".rebuild.tmp"
	_ = os.Remove(tmp) // left by an interrupted repair
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("recovery: rebuild %s: %w", path, err)
	}
	fail := func(err error) error {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return err
	}
	tx, err := dst.Begin(true)
	if err != nil {
		return fail(err)
	}
	var werr error
	keys, txBytes := 0, 0
	bucket := func(path [][]byte) *bolt.Bucket {
		b, err := tx.CreateBucketIfNotExists(path[0])
		for _, name := range path[1:] {
			if err != nil {
				break
			}
			b, err = b.CreateBucketIfNotExists(name)
		}
		if err != nil && werr == nil {
			werr = err
		}
		return b
	}
	onBucket := func(path [][]byte) {
		if werr == nil {
			bucket(path)
		}
	}
	onKV := func(path [][]byte, k, v []byte) {
		if werr != nil || len(path) == 0 {
			return
		}
		b := bucket(path)
		if b == nil {
			return
		}
		if err := b.Put(append([]byte(nil), k...), append([]byte(nil), v...)); err != nil {
			werr = err
			return
		}
		keys++
		if txBytes += len(k) + len(v); keys%rebuildTxKeys == 0 || txBytes >= rebuildTxBytes {
			if werr = tx.Commit(); werr == nil {
				tx, werr = dst.Begin(true)
			}
			txBytes = 0
		}
	}
	w, err := boltfile.Walk(path, boltfile.Visitor{OnBucket: onBucket, OnKV: onKV, IsBucket: walLayout})
	if err != nil {
		_ = tx.Rollback()
		return fail(fmt.Errorf("%w: %s: %v", ErrUnrepairable, path, err))
	}
	if werr != nil {
		_ = tx.Rollback()
		return fail(fmt.Errorf("recovery: rebuild %s: %w", path, werr))
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("recovery: rebuild %s: %w", path, err))
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("recovery: rebuild %s: %w", path, err)
	}
	// The copy must be a WAL: its meta bucket must have survived.
	check, err := store.Open(tmp, &store.Options{ReadOnly: true, AutoCompactRatio: -1})
	if err != nil {
		_ = os.Remove(tmp)
		if errors.Is(err, store.ErrNotWAL) || errors.Is(err, store.ErrCorrupt) {
			return fmt.Errorf("%w: %s: the meta bucket is unreadable: %v", ErrUnrepairable, path, err)
		}
		return err
	}
	_ = check.Close()
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("recovery: rebuild %s: replace: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("recovery: rebuild %s: %w", path, err)
	}
	rep.Rebuilt = true
	for _, p := range append(append(w.Meta, w.Tree...), w.Other...) {
		rep.Actions = append(rep.Actions, "rebuilt the file around: "+p)
	}
	rep.Actions = append(rep.Actions, fmt.Sprintf("rebuilt the file from %d readable key(s)", keys))
	return nil
}

// walLayout says which entries of a WAL are buckets, whatever their
// (possibly damaged) flag says: the meta and streams buckets, each stream,
// and each stream's sub-buckets; everything else is a value. A record
// whose flag was flipped is thus copied as the value it was, and the
// stream repair then finds it corrupt and keeps it as a dead letter.
func walLayout(path [][]byte, k []byte, flagged bool) bool {
	switch len(path) {
	case 0:
		return true
	case 1:
		return string(path[0]) == string(format.BucketStreams)
	case 2:
		if string(path[0]) != string(format.BucketStreams) {
			return false
		}
		for _, sub := range format.SubBuckets {
			if string(k) == sub {
				return true
			}
		}
		return false
	}
	return false
}
