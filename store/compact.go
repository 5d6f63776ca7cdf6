package store

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// CompactResult reports a compaction's before and after sizes.
type CompactResult struct {
	Path        string
	BeforeBytes int64
	AfterBytes  int64
}

// compactTxMaxSize bounds the size of each copy transaction, so compacting a
// large file does not hold it all in memory at once.
const compactTxMaxSize = 64 << 20

// CompactFile rewrites the WAL at src without its free pages. With dst empty
// it replaces src atomically: the copy goes to a temporary file in the same
// directory, is fsynced, renamed over src, and the directory is fsynced, so a
// crash at any point leaves either the old file or the new one, whole. With
// dst set, src is left as it is and the copy is written to dst (which must
// not exist).
//
// src must not be open by anyone: CompactFile takes its lock and fails with
// ErrLocked otherwise. opts may carry LockTimeout and PageSize (the copy's
// page size; the default is that of a new file); other fields are ignored.
func CompactFile(src, dst string, opts *Options) (CompactResult, error) {
	o := opts.withDefaults()
	if err := o.checkPageSize(); err != nil {
		return CompactResult{Path: src}, err
	}
	res := CompactResult{Path: src}
	srcDB, err := openOnce(src, Options{LockTimeout: o.LockTimeout, AutoCompactRatio: -1})
	if err != nil {
		return res, err
	}
	defer srcDB.Close()
	if fi, err := os.Stat(src); err == nil {
		res.BeforeBytes = fi.Size()
	}

	inPlace := dst == ""
	out := dst
	if inPlace {
		out = compactTmp(src)
		_ = os.Remove(out) // left by an earlier interrupted compaction
	} else if _, err := os.Stat(dst); err == nil {
		return res, fmt.Errorf("store: compact %s: output %s already exists", src, dst)
	}
	dstBolt, err := bolt.Open(out, 0o600, &bolt.Options{Timeout: o.LockTimeout, FreelistType: bolt.FreelistMapType, PageSize: o.PageSize})
	if err != nil {
		// bbolt writes the new file's first pages here: on a full disk
		// this is where the copy fails. The file is new (ours or the
		// caller's dst, which did not exist): remove what was written.
		_ = os.Remove(out)
		return res, classifyWriteError(src, fmt.Errorf("store: compact %s: create %s: %w", src, out, err))
	}
	err = guard(src, func() error { return bolt.Compact(dstBolt, srcDB.bolt, compactTxMaxSize) })
	if cerr := dstBolt.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(out)
		return res, classifyWriteError(src, fmt.Errorf("store: compact %s: %w", src, err))
	}
	if err := syncFile(out); err != nil {
		_ = os.Remove(out)
		return res, err
	}
	final := dst
	if inPlace {
		final = src
		if err := os.Rename(out, src); err != nil {
			_ = os.Remove(out)
			return res, fmt.Errorf("store: compact %s: replace: %w", src, err)
		}
	}
	// The new name (the rename, or the new output file) is durable once
	// its directory is.
	if err := syncDir(filepath.Dir(final)); err != nil {
		return res, err
	}
	if fi, err := os.Stat(final); err == nil {
		res.AfterBytes = fi.Size()
	}
	return res, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("store: fsync %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return classifyWriteError(path, fmt.Errorf("store: fsync %s: %w", path, err))
	}
	return nil
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: fsync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: fsync dir %s: %w", dir, err)
	}
	return nil
}

// compactTmp is where an in-place compaction of path writes its copy.
func compactTmp(path string) string { return path + ".compact.tmp" }
