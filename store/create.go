package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// createNew makes a new WAL at real, which did not exist, so that no crash
// can leave a half-made file there: the file is built whole beside it
// (buildNew) then linked to real, which fails if another process created
// real meanwhile (then that file is opened instead), and the directory is
// fsynced. Without this, a SIGKILL between bbolt's first pages and the meta
// bucket left a valid bbolt file without one, which every later Open
// refuses as ErrNotWAL: a service killed during its first start could not
// start again.
func createNew(real string, o Options) error {
	tmp, err := buildNew(real, o)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after the link, real keeps the file
	if err := os.Link(tmp, real); err != nil && !errors.Is(err, os.ErrExist) {
		// No hard links here (FUSE and some network filesystems), or the
		// copy was removed by a process that created real meanwhile.
		if _, serr := os.Lstat(real); serr == nil {
			return nil // created meanwhile: open that one
		}
		// Rename replaces a file created in the instant since the Lstat;
		// only a creation racing this one so closely can be hit.
		if err := os.Rename(tmp, real); err != nil {
			return fmt.Errorf("store: create %s: %w", real, err)
		}
	} else if err != nil {
		return nil // another process created it first: open that one
	}
	return syncDir(filepath.Dir(real))
}

// replaceEmpty makes the zero-length file at real a WAL as createNew makes
// a missing one: built whole beside it, then renamed over it and the
// directory fsynced, so a crash leaves the empty file or a whole WAL
// (bbolt made an empty file a database in place, and a kill before the
// meta bucket left a file every later Open refused). It works under the
// empty file's lock, which bbolt's own lock excludes, waited for up to
// LockTimeout (then ErrLocked): a file another opener initialised first is
// not empty any more and is left to openOnce, and an opener that waited
// for the lock meanwhile finds the file replaced once it has it
// (checkSameFile) and opens the new one.
func replaceEmpty(path, real string, o Options) error {
	f, err := openRegular(real, os.O_RDWR, 0)
	if err != nil {
		return nil // openOnce opens it and says why
	}
	defer f.Close() // releases the lock too
	if err := lockWait(f, o.LockTimeout); err != nil {
		return classifyOpenError(path, real, err)
	}
	have, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	if now, err := os.Stat(real); err != nil || have.Size() != 0 || !os.SameFile(have, now) {
		return nil // initialised or replaced meanwhile: openOnce takes it as it is
	}
	tmp, err := buildNew(real, o)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)                  // gone once renamed
	_ = os.Chmod(tmp, have.Mode().Perm()) // the mode the file was given; its owner is this process's user
	if err := os.Rename(tmp, real); err != nil {
		return classifyWriteError(real, fmt.Errorf("store: create %s: %w", real, err))
	}
	return syncDir(filepath.Dir(real))
}

// lockWait takes f's exclusive lock as bbolt does (flock, retried every
// 50 ms; a timeout of 0 waits forever); it fails with bbolt's ErrTimeout.
func lockWait(f *os.File, timeout time.Duration) error {
	start := time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if timeout > 0 && time.Since(start) >= timeout {
			return berrors.ErrTimeout
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// buildNew builds a whole WAL beside real (bbolt's first pages and the
// meta bucket, fsynced) under a name of its own, createPattern's, and
// returns that name. A copy left by a kill midway carries it; a later
// Open for writing removes it.
func buildNew(real string, o Options) (string, error) {
	dir, base := filepath.Dir(real), filepath.Base(real)
	f, err := os.CreateTemp(dir, base+".create-*.tmp")
	if err != nil {
		return "", classifyWriteError(real, fmt.Errorf("store: create %s: %w", real, err))
	}
	tmp := f.Name()
	_ = f.Close()
	bdb, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: o.LockTimeout, PageSize: o.PageSize, FreelistType: bolt.FreelistMapType})
	if err == nil {
		err = bdb.Update(initMeta(o.Format)) // fsynced: NoSync is not set on this handle
		if cerr := bdb.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", classifyWriteError(real, fmt.Errorf("store: create %s: %w", real, err))
	}
	return tmp, nil
}

// removeCreateLeftovers deletes the copies createNew left next to real when
// it was killed midway. The caller holds real's lock for writing: a
// creation still running elsewhere loses its copy, fails to link it, and
// opens real instead.
func removeCreateLeftovers(real string) {
	leftovers, _ := filepath.Glob(globEscape(real) + ".create-*.tmp")
	for _, p := range leftovers {
		_ = os.Remove(p)
	}
}

// globEscape quotes the glob metacharacters of a literal path.
func globEscape(p string) string {
	out := make([]rune, 0, len(p))
	for _, r := range p {
		switch r {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out)
}
