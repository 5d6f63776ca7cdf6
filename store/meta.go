package store

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/storetx"
)

// FormatVersion is the newest on-disk format this build reads, and the one
// it writes by default (Options.Format). Version 2 lets a value of a
// stream's events bucket hold a run of events (see package wal); version 1
// holds one event per value. This build reads both.
const FormatVersion uint64 = 2

// maxPlausibleVersion bounds what readMeta takes for a newer format rather
// than damage.
const maxPlausibleVersion = 1 << 16

var (
	metaBucket = []byte("walbatch")
	keyVersion = []byte("version")
	keyCreated = []byte("created")
	keyFileID  = []byte("id")
)

// Info is what the meta bucket records about a WAL file.
type Info struct {
	// Version is the file's format version: the one it was created with,
	// or the one Open migrated it to (Options.Format).
	Version uint64
	// Created is when the file was created.
	Created time.Time
	// FileID is random, chosen at creation; event and batch IDs embed it so
	// IDs from different files never collide.
	FileID [8]byte
}

// initMeta returns what creates the meta bucket of format version in an
// empty file.
func initMeta(version uint64) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error { return putMeta(tx, version) }
}

func putMeta(tx *bolt.Tx, version uint64) error {
	b, err := tx.CreateBucket(metaBucket)
	if err != nil {
		return err
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return err
	}
	if err := b.Put(keyVersion, binary.BigEndian.AppendUint64(nil, version)); err != nil {
		return err
	}
	if err := b.Put(keyCreated, binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))); err != nil {
		return err
	}
	return b.Put(keyFileID, id[:])
}

// readMeta reads and checks the meta bucket.
func readMeta(tx *bolt.Tx) (Info, error) {
	var info Info
	b := tx.Bucket(metaBucket)
	if b == nil {
		return info, missingMeta(tx)
	}
	v, c, id := b.Get(keyVersion), b.Get(keyCreated), b.Get(keyFileID)
	if len(v) != 8 || len(c) != 8 || len(id) != 8 {
		return info, fmt.Errorf("%w: meta bucket is incomplete", ErrCorrupt)
	}
	info.Version = binary.BigEndian.Uint64(v)
	info.Created = time.Unix(0, int64(binary.BigEndian.Uint64(c)))
	copy(info.FileID[:], id)
	if info.Version == 0 {
		return info, fmt.Errorf("%w: format version 0", ErrCorrupt)
	}
	if info.Version > maxPlausibleVersion {
		// Format versions grow by one per release: a number this large is
		// a damaged value, not a file from the future.
		return info, fmt.Errorf("%w: format version %d is not a version", ErrCorrupt, info.Version)
	}
	if info.Version > FormatVersion {
		return info, fmt.Errorf("%w: file has version %d, this build reads up to %d", ErrVersion, info.Version, FormatVersion)
	}
	return info, nil
}

// migrateMeta brings a file at format version from to version to, in the
// one transaction it returns: the streams' records are rewritten to the
// new version's layout by the step internal/format registers
// (storetx.SetMigration; from 1 to 2 it drops format 1's requeued runs
// records and rewrites each stream's state record, whose derived counters
// format 2 no longer stores), and then the meta bucket records the new
// version. The events' values stay as they are (a format 2 reader reads a
// format 1 value as one event). A crash leaves the file at from or at to,
// whole. A program that links this package without internal/format (so
// without package wal) has no step and cannot migrate a file: openOnce
// refuses before (ErrVersion), and so does this, rather than record a
// version whose layout the streams do not have.
func migrateMeta(from, to uint64) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket(metaBucket)
		if b == nil {
			return fmt.Errorf("%w: the meta bucket is missing", ErrCorrupt)
		}
		step := storetx.Migration()
		if step == nil {
			return fmt.Errorf("%w: no migration of the streams is linked in (import package wal)", ErrVersion)
		}
		if err := step(tx, from, to); err != nil {
			return err
		}
		return b.Put(keyVersion, binary.BigEndian.AppendUint64(nil, to))
	}
}

// isEmpty reports whether a freshly opened bbolt file has no buckets at all.
func isEmpty(tx *bolt.Tx) bool {
	k, _ := tx.Cursor().First()
	return k == nil
}

// missingMeta tells a foreign bbolt file (ErrNotWAL) from a WAL whose root
// page is damaged (ErrCorrupt): a file whose root still has a key that is
// walbatch's "streams" or "walbatch" but for at most two bytes (a flipped
// byte, a lost bucket flag), or whose root holds no bucket at all although
// pages were written beyond a fresh file's four, lost its meta bucket to
// damage.
func missingMeta(tx *bolt.Tx) error {
	c := tx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		// Found as a bucket, or as a plain value whose bucket flag was
		// damaged.
		if nearly(k, "streams") || nearly(k, string(metaBucket)) {
			return fmt.Errorf("%w: the meta bucket is missing or damaged, but %q is there", ErrCorrupt, k)
		}
	}
	if isEmpty(tx) && tx.Size() > 4*int64(tx.DB().Info().PageSize) {
		return fmt.Errorf("%w: the root page holds no bucket but the file has %d bytes of pages", ErrCorrupt, tx.Size())
	}
	return ErrNotWAL
}

// nearly reports whether k is name with at most two bytes changed.
func nearly(k []byte, name string) bool {
	if len(k) != len(name) {
		return false
	}
	diff := 0
	for i := range k {
		if k[i] != name[i] {
			diff++
		}
	}
	return diff <= 2
}
