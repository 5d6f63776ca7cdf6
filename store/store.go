package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/walbatch/walbatch/internal/boltfile"
	"github.com/walbatch/walbatch/internal/storetx"
)

// DB is an open WAL file: the file layer under package wal. It is safe for
// concurrent use. Its public methods only inspect the file (path, meta
// record, meta-page problems, size) or copy it (Snapshot); reading and
// writing events is package wal's, repairing them package recovery's.
// Write transactions are serialized (bbolt allows one at a time); reads
// run concurrently with them.
type DB struct {
	bolt *bolt.DB
	file *os.File // bbolt's own handle, captured through Options.OpenFile
	path string   // as given to Open
	real string   // path with its symbolic links resolved: the file itself
	opts Options
	info Info
	// metaProblems is what the meta pages showed once the lock was held;
	// metaRestored what restoreMeta did before.
	metaProblems []string
	metaRestored string
	broken       atomic.Bool // set after bbolt panicked on a damaged page
}

// Open opens the WAL file at path, creating it (mode 0600) unless
// opts.ReadOnly is set. Only a missing or zero-length file is made a WAL:
// any other file must already be one. It fails with ErrLocked when another
// process holds the file, ErrNotWAL for a file that is not a walbatch WAL
// (ErrNotRegular, which wraps it, for a directory, FIFO, device or socket,
// refused without blocking), ErrVersion for a newer format, and ErrCorrupt
// for a damaged file. It never panics on a damaged file, and leaves a file
// it refuses unchanged. A symbolic link is followed (see Resolve); a link
// that leads nowhere is not created through. Opened for writing, it
// removes the copy a compaction killed midway left next to the file
// (PATH.compact.tmp) or a creation killed midway (PATH.create-*.tmp: a new
// file is built whole beside its name and then linked in place, so a
// crash while creating leaves no file or a whole WAL; a zero-length file
// is replaced the same way, keeping its mode, under its lock, so a crash
// leaves it empty or a whole WAL), and restores the newest commit when only its meta
// page's checksum is damaged (MetaRestored). An invalid meta page that
// bbolt opened past is not an error: MetaProblems reports it.
func Open(path string, opts *Options) (*DB, error) {
	o := opts.withDefaults()
	if err := o.checkFormat(); err != nil {
		return nil, err
	}
	if err := o.checkPageSize(); err != nil {
		return nil, err
	}
	real, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	fi, statErr := os.Stat(real)
	switch {
	case statErr != nil && !os.IsNotExist(statErr):
		return nil, fmt.Errorf("store: open %s: %w", path, statErr)
	case statErr != nil && o.ReadOnly:
		return nil, fmt.Errorf("store: open %s: %w", path, statErr)
	case statErr != nil:
		// a new file
	case !fi.Mode().IsRegular():
		return nil, checkRegular(path, fi)
	case fi.Size() == 0 && o.ReadOnly:
		return nil, fmt.Errorf("%w: %s is empty", ErrNotWAL, path)
	}
	if statErr != nil {
		// A new file: made whole beside it, then put in place (durably:
		// the directory is fsynced), so a crash leaves no half-made WAL.
		if err := createNew(real, o); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		if fi, err := os.Stat(real); err == nil && fi.Size() == 0 && !o.ReadOnly {
			if err := replaceEmpty(path, real, o); err != nil {
				return nil, err
			}
		}
		db, err := openOnce(path, real, o, !o.ReadOnly)
		if errors.Is(err, errReplaced) && attempt < 3 {
			continue // compacted and replaced while we waited for the lock
		}
		if err != nil {
			return nil, err
		}
		if !o.ReadOnly {
			// A compaction killed midway leaves its copy behind. We hold
			// the file's lock, and a compaction holds it all along, so
			// none can be writing the copy now. Likewise a creation's.
			_ = os.Remove(compactTmp(real))
			removeCreateLeftovers(real)
		}
		if !o.ReadOnly && o.AutoCompactRatio > 0 && db.shouldCompact() {
			if err := db.Close(); err != nil {
				return nil, err
			}
			// Compaction is an optimisation: when it cannot run (a full
			// disk has no room for the copy), open the file as it is.
			_, _ = CompactFile(real, "", &o)
			o.AutoCompactRatio = -1
			continue
		}
		return db, nil
	}
}

var errReplaced = errors.New("store: file replaced while opening")

// openOnce opens real (path with its links resolved; path names it in
// errors). With mayInit, a file that was missing or empty when looked at
// here, before bbolt created or locked it, gets walbatch's meta bucket;
// any other file without one is refused with ErrNotWAL and left unchanged.
func openOnce(path, real string, o Options, mayInit bool) (db *DB, err error) {
	bo := &bolt.Options{
		Timeout:         o.LockTimeout,
		ReadOnly:        o.ReadOnly,
		NoSync:          o.NoSync,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: o.InitialMmapSize,
	}
	if err := precheck(real); err != nil {
		return nil, err
	}
	restored := ""
	if !o.ReadOnly {
		var err error
		if restored, err = restoreMeta(path, real); err != nil {
			return nil, err
		}
	}
	fresh := false
	if fi, err := os.Stat(real); err != nil || fi.Size() == 0 {
		// Only a new file takes the page size: for a file that exists
		// bbolt reads it from the meta pages (and falls back to its own
		// default when both are unreadable).
		bo.PageSize = o.PageSize
		fresh = true
	}
	var file *os.File
	bo.OpenFile = func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, e := openRegular(name, flag, mode)
		file = f
		return f, e
	}
	var bdb *bolt.DB
	err = guard(path, func() error {
		var e error
		bdb, e = bolt.Open(real, 0o600, bo)
		return e
	})
	if err != nil {
		if bdb == nil && file != nil {
			// bbolt failed after opening the file. Closing our descriptor
			// releases its lock unless bbolt had already mapped the file
			// (then the mapping holds the lock until the process exits):
			// precheck below keeps the common damage from getting there.
			_ = file.Close()
		}
		return nil, classifyOpenError(path, real, err)
	}
	db = &DB{bolt: bdb, file: file, path: path, real: real, opts: o, metaRestored: restored}
	defer func() {
		if err != nil {
			_ = bdb.Close()
		}
	}()
	if err := db.checkSameFile(); err != nil {
		return nil, err
	}
	if err := db.checkSize(); err != nil {
		return nil, err
	}
	// Read under the lock: before it, a writer's meta write in progress
	// could look like damage.
	db.metaProblems = boltfile.ReadMetas(file).Problems()
	if !o.ReadOnly && mayInit && fresh {
		// Look before writing: an Update, even an empty one, commits a new
		// meta page, and a file that turns out not to be ours must be
		// left unchanged. A fresh file another opener initialised while
		// we waited for the lock is not empty any more.
		empty := false
		if err := db.view(func(tx *bolt.Tx) error { empty = isEmpty(tx); return nil }); err != nil {
			return nil, err
		}
		if empty {
			if err := db.update(initMeta(o.Format)); err != nil {
				return nil, err
			}
		}
	}
	err = db.view(func(tx *bolt.Tx) error {
		var e error
		db.info, e = readMeta(tx)
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !o.ReadOnly && db.info.Version < o.Format {
		// The streams' records change with the format (format 1's requeued
		// runs go): without the step that rewrites them, which package wal
		// links in (internal/format registers it with
		// storetx.SetMigration), recording the new version would leave a
		// file that does not verify at it. Refuse, changing nothing.
		if storetx.Migration() == nil {
			return nil, fmt.Errorf("%w: %s is at format %d: no migration of the streams to format %d is linked into this program (import package wal), open it read-only or with Options.Format %d",
				ErrVersion, path, db.info.Version, o.Format, db.info.Version)
		}
		if err := db.update(migrateMeta(db.info.Version, o.Format)); err != nil {
			return nil, fmt.Errorf("store: open %s: migrate from format %d to %d: %w", path, db.info.Version, o.Format, err)
		}
		db.info.Version = o.Format
	}
	return db, nil
}

// classifyOpenError maps bbolt's open errors onto our sentinels.
func classifyOpenError(path, real string, err error) error {
	switch {
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNotWAL):
		return err
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s (lock not acquired; read a live WAL through a snapshot instead)", ErrLocked, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		if looksLikeBolt(real) {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		return fmt.Errorf("%w: %s", ErrNotWAL, path)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: %s: %v", ErrNoSpace, path, err)
	}
	return fmt.Errorf("store: open %s: %w", path, err)
}

// looksLikeBolt reports whether the file at path was a bbolt file before
// it was damaged (see boltfile.LooksLikeBolt).
func looksLikeBolt(path string) bool {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return boltfile.LooksLikeBolt(f)
}

// checkSameFile guards against opening a file that was replaced (by a
// compaction) between our open(2) and acquiring the lock.
func (db *DB) checkSameFile() error {
	want, err := os.Stat(db.real)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", db.path, err)
	}
	have, err := db.file.Stat()
	if err != nil {
		return fmt.Errorf("store: open %s: %w", db.path, err)
	}
	if !os.SameFile(want, have) {
		return errReplaced
	}
	return nil
}

// checkSize refuses a file shorter than the pages its meta page claims
// (a truncated file), which would otherwise fault on first access.
func (db *DB) checkSize() error {
	fi, err := db.file.Stat()
	if err != nil {
		return fmt.Errorf("store: open %s: %w", db.path, err)
	}
	return db.view(func(tx *bolt.Tx) error {
		if need := tx.Size(); fi.Size() < need {
			return fmt.Errorf("%w: %s is truncated: %d bytes, pages need %d", ErrCorrupt, db.path, fi.Size(), need)
		}
		return nil
	})
}

// guard runs fn, turning a panic or a memory fault (bbolt reading a damaged
// page through its mmap) into ErrCorrupt, wrapped in a *faultError.
func guard(path string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = &faultError{fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)}
		}
	}()
	return fn()
}

// faultError is a panic or memory fault that guard recovered from: unlike
// an ErrCorrupt that a transaction's function returns (one bad record),
// it means bbolt's own pages cannot be trusted any more.
type faultError struct{ err error }

func (e *faultError) Error() string { return e.err.Error() }
func (e *faultError) Unwrap() error { return e.err }

// Path returns the file's path.
func (db *DB) Path() string { return db.path }

// MetaProblems describes an invalid meta page that Open found and bbolt
// opened past, at the other page: one line, "meta page N invalid (why);
// the file is at transaction T: ..." saying whether events acknowledged
// in the newest commit may be missing. It is empty when both meta pages
// were valid. It is what Open found: the next commit rewrites that page,
// so a later Open no longer sees it. recovery.Plan, recovery.Verify and
// walctl stats report it; recovery.Repair restores the newest commit when
// only its page's checksum was damaged.
func (db *DB) MetaProblems() []string { return db.metaProblems }

// MetaRestored says, in one line, how Open restored the newest commit
// before bbolt opened the file: opened for writing, Open rewrites the
// checksum of a meta page whose fields are intact and only its checksum
// damaged (so the commit it holds, acknowledged, is not lost). Empty when
// Open did not. recovery.Plan reports it among what it repaired.
func (db *DB) MetaRestored() string { return db.metaRestored }

// Info returns what the meta bucket records.
func (db *DB) Info() Info { return db.info }

// ReadOnly reports whether the DB was opened read-only.
func (db *DB) ReadOnly() bool { return db.opts.ReadOnly }

// NoSync reports whether commits skip fsync.
func (db *DB) NoSync() bool { return db.opts.NoSync }

func init() {
	storetx.Set(func(db any, fn func(*bolt.Tx) error) error { return db.(*DB).view(fn) },
		func(db any, fn func(*bolt.Tx) error) error { return db.(*DB).update(fn) })
	storetx.SetVersion(func(tx *bolt.Tx) (uint64, error) {
		info, err := readMeta(tx)
		return info.Version, err
	})
}

// update runs fn in a write transaction and commits it (with fsync unless
// NoSync). If fn returns an error the transaction is rolled back. A full disk
// is reported as ErrNoSpace; a panic from a damaged page as ErrCorrupt, after
// which every later call fails with ErrCorrupt. Packages of this module
// reach it through internal/storetx.
func (db *DB) update(fn func(tx *bolt.Tx) error) error {
	if db.opts.ReadOnly {
		return fmt.Errorf("%w: %s", ErrReadOnly, db.path)
	}
	return db.run(func() error { return db.bolt.Update(fn) })
}

// view runs fn in a read-only transaction, a consistent snapshot of the
// file (internal/storetx.View).
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	return db.run(func() error { return db.bolt.View(fn) })
}

func (db *DB) run(fn func() error) error {
	if db.broken.Load() {
		return fmt.Errorf("%w: %s: an earlier operation hit a damaged page", ErrCorrupt, db.path)
	}
	err := guard(db.path, fn)
	switch {
	case err == nil:
		return nil
	case errors.As(err, new(*faultError)):
		// Only a fault inside bbolt breaks the DB for good; an ErrCorrupt
		// that fn returned (a record failing its checksum) is that
		// call's error alone.
		db.broken.Store(true)
		return err
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("%w: %s", ErrClosed, db.path)
	}
	return classifyWriteError(db.path, err)
}

// classifyWriteError reports a full disk as ErrNoSpace.
func classifyWriteError(path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %s: %v", ErrNoSpace, path, err)
	}
	return err
}

// Close releases the file and its lock. It waits for open transactions.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", db.path, err)
	}
	return nil
}

// Snapshot writes a consistent copy of the whole file, as of one moment, to
// w while writers go on. The copy is a WAL file that every read-only command
// accepts. It returns the number of bytes written.
func (db *DB) Snapshot(w io.Writer) (int64, error) {
	var n int64
	err := db.view(func(tx *bolt.Tx) error {
		var e error
		n, e = tx.WriteTo(w)
		return e
	})
	return n, err
}

// Stats describes the file on disk.
type Stats struct {
	FileSize  int64 // bytes on disk
	FreeBytes int64 // bytes in free pages, reusable by later writes
	PageSize  int
}

// FileStats returns the file's size and free space.
func (db *DB) FileStats() (Stats, error) {
	var s Stats
	fi, err := db.file.Stat()
	if err != nil {
		return s, fmt.Errorf("store: stat %s: %w", db.path, err)
	}
	bs := db.bolt.Stats()
	s.FileSize = fi.Size()
	s.PageSize = db.bolt.Info().PageSize
	s.FreeBytes = int64(bs.FreePageN+bs.PendingPageN) * int64(s.PageSize)
	return s, nil
}

func (db *DB) shouldCompact() bool {
	s, err := db.FileStats()
	if err != nil || s.FileSize < db.opts.AutoCompactMinSize || s.FileSize == 0 {
		return false
	}
	return float64(s.FreeBytes)/float64(s.FileSize) >= db.opts.AutoCompactRatio
}
