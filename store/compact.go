package store

import (
	"errors"
	"fmt"
	"io/fs"
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

// compactTxMaxSize bounds the keys and values copied per transaction of a
// compaction. A transaction holds them in memory until it commits, at
// about four times this size (bbolt's nodes, then the pages written): so
// compaction's heap stays near 32 MiB whatever the file's size (measured:
// 28 MiB for a 112 MB file, where 64 MiB transactions took 143 MiB).
const compactTxMaxSize = 8 << 20

// CompactFile rewrites the WAL at src without its free pages. With dst empty
// it replaces src atomically: the copy goes to a temporary file in the same
// directory, is fsynced, renamed over src, and the directory is fsynced, so a
// crash at any point leaves either the old file or the new one, whole. With
// dst set, src is opened read-only and left as it is, and the copy is
// written to dst, which must not exist (not even as a symbolic link) in a
// directory that does. A symbolic link src is followed (see Resolve): the
// file it points to is compacted, and the link is kept.
//
// src must be a WAL (ErrNotWAL, ErrNotRegular otherwise; it is never
// initialised) whose meta pages are both valid (ErrCorrupt otherwise: see
// DB.MetaProblems; compacted in place, a newest commit with only its
// checksum damaged is restored first) that no one writes: CompactFile takes its lock, exclusive
// in place and shared with dst set, and fails with ErrLocked otherwise.
// opts may carry LockTimeout and PageSize (the copy's page size; the
// default is that of a new file); other fields are ignored. The copy is
// made in transactions of at most 8 MiB of keys and values, which bounds
// the memory it takes (about 32 MiB of heap) whatever the file's size.
func CompactFile(src, dst string, opts *Options) (CompactResult, error) {
	o := opts.withDefaults()
	res := CompactResult{Path: src}
	if err := o.checkPageSize(); err != nil {
		return res, err
	}
	real, err := Resolve(src)
	if err != nil {
		return res, err
	}
	fi, err := Stat(src)
	if err != nil {
		return res, err
	}
	if fi.Size() == 0 {
		return res, fmt.Errorf("%w: %s is empty", ErrNotWAL, src)
	}
	inPlace := dst == ""
	out := dst
	if inPlace {
		out = compactTmp(real)
	} else if err := checkOutput(src, dst); err != nil {
		return res, err
	}
	srcDB, err := openOnce(src, real, Options{LockTimeout: o.LockTimeout, AutoCompactRatio: -1, ReadOnly: !inPlace}, false)
	if err != nil {
		return res, err
	}
	defer srcDB.Close()
	if p := srcDB.MetaProblems(); len(p) > 0 {
		// A compaction would copy the older commit and, in place, replace
		// the file that still holds the damaged page: repair first (it
		// keeps the original).
		return res, fmt.Errorf("%w: %s: %s; run walctl repair before compacting", ErrCorrupt, src, p[0])
	}
	if fi, err := srcDB.file.Stat(); err == nil {
		res.BeforeBytes = fi.Size()
	}
	if inPlace {
		_ = os.Remove(out) // left by an earlier interrupted compaction
	}
	// NoSync: the copy's commits need no fsync each; syncFile makes the
	// whole copy durable before it is renamed into place or reported.
	dstBolt, err := bolt.Open(out, 0o600, &bolt.Options{Timeout: o.LockTimeout, FreelistType: bolt.FreelistMapType, PageSize: o.PageSize, NoSync: true,
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			// A new file only: O_EXCL fails on any name there, a link
			// (even one to nothing) included, instead of writing through it.
			return os.OpenFile(name, flag|os.O_EXCL, mode)
		}})
	if err != nil {
		// bbolt writes the new file's first pages here: on a full disk
		// this is where the copy fails. The file is new (ours or the
		// caller's dst, which did not exist): remove what was written.
		if !errors.Is(err, fs.ErrExist) {
			_ = os.Remove(out)
		}
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
		final = real
		if err := os.Rename(out, real); err != nil {
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

// checkOutput refuses a compaction output that exists (a symbolic link,
// even a dangling one, included) or whose directory does not.
func checkOutput(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("store: compact %s: output %s already exists", src, dst)
	}
	dir := filepath.Dir(dst)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: compact %s: the output's directory %s does not exist", src, dir)
	case err != nil:
		return fmt.Errorf("store: compact %s: the output's directory: %v", src, err)
	case !fi.IsDir():
		return fmt.Errorf("store: compact %s: the output's directory %s is not a directory", src, dir)
	}
	return nil
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
