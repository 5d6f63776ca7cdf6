package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DB is an open WAL file. It is safe for concurrent use. Update serializes
// writers (bbolt allows one write transaction at a time); View runs
// concurrently with them.
type DB struct {
	bolt   *bolt.DB
	file   *os.File // bbolt's own handle, captured through Options.OpenFile
	path   string
	opts   Options
	info   Info
	broken atomic.Bool // set after bbolt panicked on a damaged page
}

// Open opens the WAL file at path, creating it (mode 0600) unless
// opts.ReadOnly is set. It fails with ErrLocked when another process holds
// the file, ErrNotWAL for a file that is not a walbatch WAL, ErrVersion for a
// newer format, and ErrCorrupt for a damaged file. It never panics on a
// damaged file. Opened for writing, it removes the copy a compaction killed
// midway left next to the file (PATH.compact.tmp).
func Open(path string, opts *Options) (*DB, error) {
	o := opts.withDefaults()
	if err := o.checkPageSize(); err != nil {
		return nil, err
	}
	fi, statErr := os.Stat(path)
	switch {
	case statErr != nil && !os.IsNotExist(statErr):
		return nil, fmt.Errorf("store: open %s: %w", path, statErr)
	case statErr != nil && o.ReadOnly:
		return nil, fmt.Errorf("store: open %s: %w", path, statErr)
	case statErr == nil && fi.IsDir():
		return nil, fmt.Errorf("%w: %s is a directory", ErrNotWAL, path)
	case statErr == nil && fi.Size() == 0 && o.ReadOnly:
		return nil, fmt.Errorf("%w: %s is empty", ErrNotWAL, path)
	}
	created := statErr != nil // the file did not exist: bbolt creates it
	for attempt := 0; ; attempt++ {
		db, err := openOnce(path, o)
		if errors.Is(err, errReplaced) && attempt < 3 {
			continue // compacted and replaced while we waited for the lock
		}
		if err != nil {
			return nil, err
		}
		if created {
			// The new file's name is durable only once its directory is
			// fsynced; without this, a power cut could take the file, and
			// the first acknowledged events with it.
			if err := syncDir(filepath.Dir(path)); err != nil {
				_ = db.Close()
				return nil, err
			}
			created = false
		}
		if !o.ReadOnly {
			// A compaction killed midway leaves its copy behind. We hold
			// the file's lock, and a compaction holds it all along, so
			// none can be writing the copy now.
			_ = os.Remove(compactTmp(path))
		}
		if !o.ReadOnly && o.AutoCompactRatio > 0 && db.shouldCompact() {
			if err := db.Close(); err != nil {
				return nil, err
			}
			// Compaction is an optimisation: when it cannot run (a full
			// disk has no room for the copy), open the file as it is.
			_, _ = CompactFile(path, "", &o)
			o.AutoCompactRatio = -1
			continue
		}
		return db, nil
	}
}

var errReplaced = errors.New("store: file replaced while opening")

func openOnce(path string, o Options) (db *DB, err error) {
	bo := &bolt.Options{
		Timeout:         o.LockTimeout,
		ReadOnly:        o.ReadOnly,
		NoSync:          o.NoSync,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: o.InitialMmapSize,
	}
	if err := precheck(path); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		// Only a new file takes the page size: for a file that exists
		// bbolt reads it from the meta pages (and falls back to its own
		// default when both are unreadable).
		bo.PageSize = o.PageSize
	}
	var file *os.File
	bo.OpenFile = func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, e := os.OpenFile(name, flag, mode)
		file = f
		return f, e
	}
	var bdb *bolt.DB
	err = guard(path, func() error {
		var e error
		bdb, e = bolt.Open(path, 0o600, bo)
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
		return nil, classifyOpenError(path, err)
	}
	db = &DB{bolt: bdb, file: file, path: path, opts: o}
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
	if !o.ReadOnly {
		// Look before writing: an Update, even an empty one, commits a new
		// meta page, and a file that turns out not to be ours (or the
		// source of a compaction to another path) must be left unchanged.
		empty := false
		if err := db.View(func(tx *bolt.Tx) error { empty = isEmpty(tx); return nil }); err != nil {
			return nil, err
		}
		if empty {
			if err := db.Update(initMeta); err != nil {
				return nil, err
			}
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		var e error
		db.info, e = readMeta(tx)
		return e
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

// classifyOpenError maps bbolt's open errors onto our sentinels.
func classifyOpenError(path string, err error) error {
	switch {
	case errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s (lock not acquired; read a live WAL through a snapshot instead)", ErrLocked, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		if hasBoltMagic(path) {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		return fmt.Errorf("%w: %s", ErrNotWAL, path)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: %s: %v", ErrNoSpace, path, err)
	}
	return fmt.Errorf("store: open %s: %w", path, err)
}

// hasBoltMagic reports whether the file was a bbolt file before it was
// damaged: either of the first two pages carries bbolt's meta magic, or,
// with both meta pages destroyed, the pages after them still carry bbolt
// page headers (their own page number and a known page type).
func hasBoltMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	const magic = 0xED0CDAED
	buf := make([]byte, 4)
	for _, off := range []int64{16, 4096 + 16, 8192 + 16, 16384 + 16, 32768 + 16, 65536 + 16} {
		if _, err := f.ReadAt(buf, off); err == nil && binary.LittleEndian.Uint32(buf) == magic {
			return true
		}
	}
	hdr := make([]byte, 10)
	for _, pageSize := range []int64{4096, 8192, 16384, 32768, 65536} {
		ok := true
		for id := int64(2); id < 4 && ok; id++ {
			if _, err := f.ReadAt(hdr, id*pageSize); err != nil {
				ok = false
				break
			}
			flags := binary.LittleEndian.Uint16(hdr[8:])
			ok = binary.LittleEndian.Uint64(hdr) == uint64(id) &&
				(flags == 0x01 || flags == 0x02 || flags == 0x10) // branch, leaf, freelist
		}
		if ok {
			return true
		}
	}
	return false
}

// checkSameFile guards against opening a file that was replaced (by a
// compaction) between our open(2) and acquiring the lock.
func (db *DB) checkSameFile() error {
	want, err := os.Stat(db.path)
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
	return db.View(func(tx *bolt.Tx) error {
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

// Info returns what the meta bucket records.
func (db *DB) Info() Info { return db.info }

// ReadOnly reports whether the DB was opened read-only.
func (db *DB) ReadOnly() bool { return db.opts.ReadOnly }

// NoSync reports whether commits skip fsync.
func (db *DB) NoSync() bool { return db.opts.NoSync }

// Update runs fn in a write transaction and commits it (with fsync unless
// NoSync). If fn returns an error the transaction is rolled back. A full disk
// is reported as ErrNoSpace; a panic from a damaged page as ErrCorrupt, after
// which every later call fails with ErrCorrupt.
func (db *DB) Update(fn func(tx *bolt.Tx) error) error {
	if db.opts.ReadOnly {
		return fmt.Errorf("%w: %s", ErrReadOnly, db.path)
	}
	return db.run(func() error { return db.bolt.Update(fn) })
}

// View runs fn in a read-only transaction, a consistent snapshot of the file.
func (db *DB) View(fn func(tx *bolt.Tx) error) error {
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
	err := db.View(func(tx *bolt.Tx) error {
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
