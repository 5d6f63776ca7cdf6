package format

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
)

// RawStream is one stream's bucket in a transaction, with its parts looked
// up but not checked: a missing part is nil. The events and dead buckets
// get FillPercent 1.0: their keys only grow, so pages are packed full
// instead of split in half.
type RawStream struct {
	Name   string
	Bucket *bolt.Bucket
	// Version is the file's format version as of the transaction (0 when
	// the meta bucket does not say): the layout of State.
	Version uint64
	UID     []byte // the "uid" value; valid when 8 bytes long
	State   []byte // the "state" value; decode with DecodeState(Version, State)
	// Requeued is the "requeued" value (nil when the stream has no
	// requeued events); decode with DecodeRequeuedRuns.
	Requeued []byte
	// The sub-buckets; nil when missing.
	Events, Batches, Dead, Done *bolt.Bucket
}

// RawStreams returns every stream in tx, in name order. A file without the
// streams bucket has none.
func RawStreams(tx *bolt.Tx) ([]RawStream, error) {
	root := tx.Bucket(BucketStreams)
	if root == nil {
		return nil, nil
	}
	version, err := storetx.Version(tx)
	if err != nil {
		return nil, err
	}
	var out []RawStream
	err = root.ForEachBucket(func(name []byte) error {
		out = append(out, rawStream(string(name), root.Bucket(name), version))
		return nil
	})
	return out, err
}

// RawStreamOf returns the named stream in tx, or false if it has no bucket.
func RawStreamOf(tx *bolt.Tx, name string) (RawStream, bool) {
	root := tx.Bucket(BucketStreams)
	if root == nil {
		return RawStream{}, false
	}
	b := root.Bucket([]byte(name))
	if b == nil {
		return RawStream{}, false
	}
	return rawStream(name, b, txVersion(tx)), true
}

// txVersion returns the format version of tx's file, 0 when its meta
// bucket does not say.
func txVersion(tx *bolt.Tx) uint64 {
	v, _ := storetx.Version(tx)
	return v
}

// CreateRawStream creates an empty stream bucket holding only its
// sub-buckets (no uid, no state): the caller writes those.
func CreateRawStream(tx *bolt.Tx, name string) (RawStream, error) {
	root, err := tx.CreateBucketIfNotExists(BucketStreams)
	if err != nil {
		return RawStream{}, err
	}
	b, err := root.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return RawStream{}, err
	}
	if _, err := EnsureSubBuckets(b); err != nil {
		return RawStream{}, err
	}
	return rawStream(name, b, txVersion(tx)), nil
}

func rawStream(name string, b *bolt.Bucket, version uint64) RawStream {
	rs := RawStream{Name: name, Bucket: b, Version: version}
	if b == nil {
		return rs
	}
	rs.UID, rs.State, rs.Requeued = b.Get(KeyUID), b.Get(KeyState), b.Get(KeyRequeued)
	rs.Events, rs.Batches = b.Bucket(BucketEvents), b.Bucket(BucketBatches)
	rs.Dead, rs.Done = b.Bucket(BucketDead), b.Bucket(BucketDone)
	for _, sb := range []*bolt.Bucket{rs.Events, rs.Dead} {
		if sb != nil {
			sb.FillPercent = 1.0
		}
	}
	return rs
}

// EnsureSubBuckets creates whichever of a stream's sub-buckets b lacks and
// returns their names.
func EnsureSubBuckets(b *bolt.Bucket) ([]string, error) {
	var created []string
	for _, sub := range SubBuckets {
		if b.Bucket([]byte(sub)) != nil {
			continue
		}
		if _, err := b.CreateBucket([]byte(sub)); err != nil {
			return created, err
		}
		created = append(created, sub)
	}
	return created, nil
}

// PutUID stores a stream's random ID.
func (rs RawStream) PutUID(uid [8]byte) error {
	return rs.Bucket.Put(KeyUID, append([]byte(nil), uid[:]...))
}

// PutState stores a stream's counters in the layout of the file's format
// version (in format 2 the derived ones are not stored).
func (rs RawStream) PutState(st State) error {
	if rs.Version == 0 {
		return fmt.Errorf("wal: stream %q: the file's format version is unknown: %w", rs.Name, store.ErrCorrupt)
	}
	return rs.Bucket.Put(KeyState, st.Encode(rs.Version))
}

// PutRequeuedRuns stores a stream's requeued runs, or deletes the value
// when there are none.
func (rs RawStream) PutRequeuedRuns(runs []RequeuedRun) error { return StoreRuns(rs.Bucket, runs) }

// LoadRuns reads the requeued runs from a stream's bucket b.
func LoadRuns(b *bolt.Bucket) ([]RequeuedRun, error) {
	runs, err := DecodeRequeuedRuns(b.Get(KeyRequeued))
	if err != nil {
		return nil, fmt.Errorf("wal: stream bucket: %w", err)
	}
	return runs, nil
}

// StoreRuns writes runs to a stream's bucket b, or deletes the value when
// there are none.
func StoreRuns(b *bolt.Bucket, runs []RequeuedRun) error {
	if len(runs) == 0 {
		if b.Get(KeyRequeued) == nil {
			return nil
		}
		return b.Delete(KeyRequeued)
	}
	return b.Put(KeyRequeued, EncodeRequeuedRuns(runs))
}
