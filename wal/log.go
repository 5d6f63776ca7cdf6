package wal

import (
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/safetext"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
)

// SyncMode says what a commit survives.
type SyncMode int

const (
	// SyncAlways fsyncs every commit before Append returns: an
	// acknowledged event survives process death, OS crash and power loss.
	SyncAlways SyncMode = iota
	// SyncNone leaves commits in the OS page cache: an acknowledged event
	// survives the death of the process (SIGKILL, OOM, panic) but may be
	// lost in an OS crash or power loss.
	SyncNone
)

func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Options configures Open. A nil *Options means the defaults.
type Options struct {
	// Sync is the durability of a commit. Default SyncAlways.
	Sync SyncMode
	// ReadOnly opens for inspection: no writes, no stream creation.
	ReadOnly bool
	// LockTimeout bounds the wait for the file lock. Default 1s.
	LockTimeout time.Duration
	// MaxGroupEvents bounds how many events one group commit writes.
	// Default 16384.
	MaxGroupEvents int
	// CompletedKeep is how many completion records each stream keeps for
	// audit. Default 1000; negative keeps none.
	CompletedKeep int
	// Store passes further options to the file layer (automatic compaction
	// thresholds, mmap size). Its ReadOnly, NoSync and LockTimeout are
	// taken from the fields above.
	Store store.Options
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MaxGroupEvents <= 0 {
		r.MaxGroupEvents = 16384
	}
	if r.CompletedKeep == 0 {
		r.CompletedKeep = 1000
	}
	if r.CompletedKeep < 0 {
		r.CompletedKeep = 0
	}
	return r
}

// validate refuses what Open and New cannot honour, with ErrInvalidOptions.
func (o *Options) validate() error {
	if o.Sync != SyncAlways && o.Sync != SyncNone {
		return fmt.Errorf("%w: Sync %s is not a sync mode (SyncAlways or SyncNone)", ErrInvalidOptions, o.Sync)
	}
	return nil
}

// Log is an open WAL file holding any number of named streams. It is safe
// for concurrent use. All writes go through one group committer; reads run
// on consistent snapshots concurrently with writes.
type Log struct {
	db   *store.DB
	opts Options

	// createMu serializes the creation of streams (Log.Stream), from the
	// check that a name is new to its entry in streams.
	createMu sync.Mutex

	mu      sync.RWMutex // guards streams, closing, closed
	streams map[string]*Stream
	closing bool // Close has begun
	closed  bool // the committer has stopped: no more writes

	c       *committer
	commits commitCounters

	// runs: the file's format (2 or later) may hold runs of events in one
	// value (see events.go); a format 1 file holds one event per value.
	runs bool
	// version is the file's format version: the layout of the state
	// records written.
	version uint64
}

// Open opens (or creates) the WAL file at path and loads every stream's
// counters. It fails with ErrInvalidOptions for opts it cannot honour,
// and with the store sentinels (store.ErrLocked,
// store.ErrNotWAL, store.ErrVersion, store.ErrCorrupt) as store.Open does.
// Open does not change anything that was committed: in-flight batches stay
// in flight, to be dispatched again with the same IDs (see package
// recovery).
func Open(path string, opts *Options) (*Log, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	so := o.Store
	so.ReadOnly = o.ReadOnly
	so.NoSync = o.Sync == SyncNone
	so.LockTimeout = o.LockTimeout
	db, err := store.Open(path, &so)
	if err != nil {
		return nil, err
	}
	// New applies the defaults itself: applying them twice would turn a
	// CompletedKeep < 0 (normalized to 0, "keep none") into the default.
	l, err := New(db, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return l, nil
}

// New builds a Log on a store that is already open. Close closes db. It
// fails with ErrInvalidOptions as Open does; on an error db stays open.
func New(db *store.DB, opts *Options) (*Log, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	l := &Log{db: db, opts: o, streams: map[string]*Stream{}, runs: db.Info().Version >= 2, version: db.Info().Version}
	err := storetx.View(db, func(tx *bolt.Tx) error {
		root := tx.Bucket(format.BucketStreams)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(name []byte) error {
			s, err := loadStream(l, string(name), root.Bucket(name))
			if err != nil {
				return err
			}
			l.streams[s.name] = s
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", db.Path(), err)
	}
	if !db.ReadOnly() {
		l.c = startCommitter(l)
	}
	return l, nil
}

// Store returns the underlying file.
func (l *Log) Store() *store.DB { return l.db }

// Path returns the file's path.
func (l *Log) Path() string { return l.db.Path() }

// Streams returns the names of the streams in the file, sorted.
func (l *Log) Streams() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	names := make([]string, 0, len(l.streams))
	for n := range l.streams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Stream returns the named stream, creating it (one committed transaction)
// if the file does not have it yet. On a read-only log a missing stream is
// ErrNoStream. A name is 1 to 255 bytes; a new stream's name must also be
// valid UTF-8 without control characters (NUL, C0, DEL, C1), bidirectional
// formatting characters or line and paragraph separators, else Stream
// returns ErrInvalidName. A stream an older version created under such a
// name is still returned, so its events are not stranded.
func (l *Log) Stream(name string) (*Stream, error) {
	if name == "" || len(name) > 255 {
		return nil, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	l.mu.RLock()
	s, ok := l.streams[name]
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if ok {
		return s, nil
	}
	if l.db.ReadOnly() {
		return nil, fmt.Errorf("%w: %q in %s", ErrNoStream, name, l.db.Path())
	}
	if !safetext.Clean(name) {
		return nil, fmt.Errorf("%w: %q holds a control or bidi character or invalid UTF-8", ErrInvalidName, name)
	}
	l.createMu.Lock()
	defer l.createMu.Unlock()
	l.mu.RLock()
	s, ok = l.streams[name]
	l.mu.RUnlock()
	if ok {
		return s, nil
	}
	err := l.write(nil, func(tx *bolt.Tx, _ *format.State) error {
		root, err := tx.CreateBucketIfNotExists(format.BucketStreams)
		if err != nil {
			return err
		}
		b, err := root.CreateBucket([]byte(name))
		if err != nil {
			return err
		}
		for _, sub := range [][]byte{format.BucketEvents, format.BucketBatches, format.BucketDead, format.BucketDone} {
			if _, err := b.CreateBucket(sub); err != nil {
				return err
			}
		}
		var uid [8]byte
		if _, err := rand.Read(uid[:]); err != nil {
			return err
		}
		st := format.State{NextSeq: 1, NextBatch: 1, Created: time.Now().UnixNano()}
		if err := b.Put(format.KeyUID, uid[:]); err != nil {
			return err
		}
		if err := b.Put(format.KeyState, st.Encode(l.version)); err != nil {
			return err
		}
		s = newStream(l, name, uid, st)
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("wal: create stream %q: %w", name, err)
	}
	l.mu.Lock()
	l.streams[name] = s
	l.mu.Unlock()
	return s, nil
}

// Close stops the group committer (appends already queued are committed
// first and their callers answered) and closes the file. Later calls return
// ErrClosed. Close is safe to call more than once.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil
	}
	l.closing = true
	l.mu.Unlock()
	if l.c != nil {
		l.c.stop() // commits what is queued; appends from now on get ErrClosed
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return l.db.Close()
}

// write has the writer apply one transition of stream s (nil for one of
// the Log itself) and waits for its answer: apply runs inside the next
// group's transaction, on the stream's counters as the requests queued
// before it leave them, and must change st to describe what it leaves
// (the group stores and installs it). after, if not nil, runs once the
// group committed. apply must return refuse(err) for an error found before
// its first write; see group.go. write must not be called from the writer
// goroutine (an AppendAsync callback): it would wait for itself.
func (l *Log) write(s *Stream, apply func(tx *bolt.Tx, st *format.State) error, after func()) error {
	r := reqPool.Get().(*request)
	r.s, r.apply, r.after, r.cb, r.err = s, apply, after, nil, nil
	l.submitReq(r)
	<-r.done
	err := r.err
	r.release()
	return err
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}
