package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// createNew makes a new WAL at real, which did not exist, so that no crash
// can leave a half-made file there: the file is built whole beside it
// (bbolt's first pages and the meta bucket, fsynced) under a name of its
// own, then linked to real, which fails if another process created real
// meanwhile (then that file is opened instead), and the directory is
// fsynced. Without this, a SIGKILL between bbolt's first pages and the meta
// bucket left a valid bbolt file without one, which every later Open
// refuses as ErrNotWAL: a service killed during its first start could not
// start again. A copy left by a kill midway carries createPattern's name;
// a later Open for writing removes it.
func createNew(real string, o Options) error {
	dir, base := filepath.Dir(real), filepath.Base(real)
	f, err := os.CreateTemp(dir, base+".create-*.tmp")
	if err != nil {
		return classifyWriteError(real, fmt.Errorf("store: create %s: %w", real, err))
	}
	tmp := f.Name()
	_ = f.Close()
	defer os.Remove(tmp) // after the link, real keeps the file
	bdb, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: o.LockTimeout, PageSize: o.PageSize, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return classifyWriteError(real, fmt.Errorf("store: create %s: %w", real, err))
	}
	err = bdb.Update(initMeta) // fsynced: NoSync is not set on this handle
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return classifyWriteError(real, fmt.Errorf("store: create %s: %w", real, err))
	}
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
	return syncDir(dir)
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
