package recovery

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/boltfile"
	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// VerifyOptions configures Verify. A nil *VerifyOptions means the defaults.
type VerifyOptions struct {
	// LockTimeout bounds the wait for the file's shared lock. Default 1s.
	// A file held by a running process fails with store.ErrLocked: verify
	// a snapshot of it instead (or use VerifyLog in that process).
	LockTimeout time.Duration
	// MaxProblems bounds the problems listed; the rest are counted in
	// Report.Omitted. Default 1000; negative lists all.
	MaxProblems int
}

func (o *VerifyOptions) withDefaults() VerifyOptions {
	var r VerifyOptions
	if o != nil {
		r = *o
	}
	if r.LockTimeout == 0 {
		r.LockTimeout = time.Second
	}
	if r.MaxProblems == 0 {
		r.MaxProblems = 1000
	}
	return r
}

// Verify checks the WAL file at path, opened read-only, and reports every
// problem it finds rather than stopping at the first (see the package
// documentation for the list of checks). It returns an error, and no
// report, only when the file cannot be checked at all: store.ErrLocked,
// store.ErrNotWAL, store.ErrVersion, or store.ErrCorrupt when even its
// meta pages or size are bad. It never changes the file and never panics.
func Verify(path string, opts *VerifyOptions) (*Report, error) {
	o := opts.withDefaults()
	db, err := store.Open(path, &store.Options{ReadOnly: true, LockTimeout: o.LockTimeout, AutoCompactRatio: -1})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return verifyDB(db, o, true)
}

// VerifyLog runs Verify's checks on a log this process has open. The
// stream checks read one consistent snapshot, so the log may be in use.
// The page-level checks need a file no one writes: they run only when the
// log was opened read-only (Report.PagesChecked says which).
func VerifyLog(l *wal.Log, opts *VerifyOptions) (*Report, error) {
	o := opts.withDefaults()
	return verifyDB(l.Store(), o, l.Store().ReadOnly())
}

func verifyDB(db *store.DB, o VerifyOptions, pages bool) (*Report, error) {
	r := &Report{Path: db.Path(), Info: db.Info(), PagesChecked: pages}
	ps := &problems{max: o.MaxProblems}
	defer func() { r.Problems, r.Omitted = ps.list, ps.omitted }()
	for _, p := range db.MetaProblems() {
		ps.add(KindFile, "", 0, "%s", p)
	}
	if pages {
		w, err := boltfile.Walk(db.Path(), boltfile.Visitor{})
		if err != nil {
			return nil, fmt.Errorf("recovery: verify %s: %v: %w", db.Path(), err, store.ErrCorrupt)
		}
		for _, p := range append(w.Tree, w.Other...) {
			ps.add(KindFile, "", 0, "%s", p)
		}
		if len(w.Tree)+len(w.Other) > 0 {
			// bbolt's tx.Check runs in a goroutine of its own, where a
			// damaged page or freelist would crash the process: run it
			// only on a file the page reader found sound.
			pages = false
		}
		if len(w.Tree) > 0 {
			// Walking a damaged tree through bbolt could loop or fault;
			// Repair salvages it with the page reader instead.
			ps.add(KindFile, "", 0, "stream checks skipped: the file's page tree is damaged (Repair rebuilds it)")
			return r, nil
		}
	}
	runs := db.Info().Version >= 2
	err := storetx.View(db, func(tx *bolt.Tx) error {
		if pages {
			for err := range tx.Check() {
				ps.add(KindFile, "", 0, "bbolt check: %v", err)
			}
		}
		checkTopLevel(tx, ps)
		streams, err := format.RawStreams(tx)
		if err != nil {
			return err
		}
		for _, rs := range streams {
			a := analyze(rs, ps, runs)
			r.Streams = append(r.Streams, StreamCheck{Stream: rs.Name, Stored: a.Stored, Counted: a.Counted, Events: a.Events})
		}
		return nil
	})
	if errors.Is(err, store.ErrCorrupt) {
		ps.add(KindFile, "", 0, "%v", err)
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recovery: verify %s: %w", db.Path(), err)
	}
	return r, nil
}

// checkTopLevel reports values where the layout has buckets: the streams
// bucket itself and the streams in it. bbolt would skip them silently.
func checkTopLevel(tx *bolt.Tx, ps *problems) {
	if tx.Bucket([]byte("streams")) == nil {
		if k, v := tx.Cursor().Seek([]byte("streams")); string(k) == "streams" && v != nil {
			ps.add(KindFile, "", 0, "\"streams\" is a value where a bucket belongs")
		}
		return
	}
	c := tx.Bucket([]byte("streams")).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			ps.add(KindFile, string(k), 0, "stream entry is a value where a bucket belongs")
		}
	}
}
