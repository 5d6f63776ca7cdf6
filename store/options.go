package store

import "time"

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
	return r
}
