package store

import (
	"fmt"
	"os"
	"time"
)

// Options configures Open. A nil *Options means the defaults; Open never
// writes into the caller's struct.
type Options struct {
	// ReadOnly opens the file for inspection: a shared lock, no writes, no
	// creation, no automatic compaction. A file held by a writer fails with
	// ErrLocked after LockTimeout.
	ReadOnly bool

	// LockTimeout bounds the wait for the file lock. Default 1s. A negative
	// value waits forever.
	LockTimeout time.Duration

	// NoSync skips fsync on commit (SyncNone). A commit then survives the
	// death of the process, not an OS crash or power loss. Default false.
	NoSync bool

	// AutoCompactRatio enables compaction at Open when at least this
	// fraction of the file is free pages and the file is at least
	// AutoCompactMinSize bytes. 0 means the default 0.5; a negative value
	// turns automatic compaction off. When compaction cannot run (a full
	// disk has no room for the copy) Open goes on with the file as it is.
	AutoCompactRatio float64

	// AutoCompactMinSize is the smallest file automatic compaction touches.
	// Default 64 MiB.
	AutoCompactMinSize int64

	// InitialMmapSize is passed to bbolt: reserving address space up front
	// avoids remapping (which blocks readers) as the file grows. Default 0.
	InitialMmapSize int

	// PageSize is the page size of a new file, in bytes: a power of two
	// from 4096 to 65536. 0 means the operating system's page size
	// (bbolt's default; 4 KiB on x86-64 Linux). A file that exists keeps
	// the page size it was created with; CompactFile writes its copy with
	// this page size. Larger pages make big commits cheaper (fewer page
	// writes and splits) and small ones dearer (every commit rewrites whole
	// pages): on the benchmark machine 16 KiB gave AppendAsync about 15%
	// more events/s and a single producer under SyncAlways about 15% fewer
	// (https://github.com/walbatch/walbatch/blob/main/docs/performance.md).
	PageSize int

	// Format is the format version written: 0 means FormatVersion. A new
	// file is created at it, and a file at an older version opened for
	// writing is migrated to it at Open (in one transaction: a crash
	// leaves the old version or the new, whole; besides the version only
	// each stream's state record is rewritten and its format 1 requeued
	// runs record deleted, by the step package wal links in: in a program
	// without package wal such an Open fails with ErrVersion, the file
	// unchanged). Format 1 keeps a file readable by walbatch releases
	// before format 2 (one event per value instead of runs) for as long
	// as a rolling upgrade needs. A file is never taken back to an older
	// version: one at 2 stays at 2 with Format 1. Read-only opens change
	// nothing.
	Format uint64
}

const (
	defaultLockTimeout        = time.Second
	defaultAutoCompactRatio   = 0.5
	defaultAutoCompactMinSize = 64 << 20
)

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.LockTimeout == 0 {
		r.LockTimeout = defaultLockTimeout
	}
	if r.LockTimeout < 0 {
		r.LockTimeout = 0 // bbolt: 0 waits forever
	}
	if r.AutoCompactRatio == 0 {
		r.AutoCompactRatio = defaultAutoCompactRatio
	}
	if r.AutoCompactMinSize == 0 {
		r.AutoCompactMinSize = defaultAutoCompactMinSize
	}
	if r.PageSize == 0 {
		r.PageSize = os.Getpagesize()
	}
	if r.Format == 0 {
		r.Format = FormatVersion
	}
	return r
}

// checkFormat refuses a format version this build cannot write.
func (o *Options) checkFormat() error {
	if o.Format < 1 || o.Format > FormatVersion {
		return fmt.Errorf("store: format %d: this build writes formats 1 to %d", o.Format, FormatVersion)
	}
	return nil
}

// checkPageSize refuses a page size bbolt cannot use well: it must be a
// power of two (pages are addressed as multiples of it) and at least the
// size of a meta page's sector, at most 64 KiB.
func (o *Options) checkPageSize() error {
	ps := o.PageSize
	if ps < 4096 || ps > 65536 || ps&(ps-1) != 0 {
		return fmt.Errorf("store: page size %d: must be a power of two from 4096 to 65536", ps)
	}
	return nil
}
