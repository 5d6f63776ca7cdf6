package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package that has one of
// these causes wraps it, with the file's path for context; test with
// errors.Is.
var (
	// ErrLocked is returned by Open when another process (or another DB in
	// this process) holds the file and the lock timeout passed.
	ErrLocked = errors.New("store: WAL file is in use by another process")

	// ErrNotWAL is returned by Open for a file that is not a walbatch WAL:
	// not a regular file (ErrNotRegular), a file too short or with no
	// valid meta page and nothing of bbolt's in it, or a bbolt file without
	// walbatch's meta bucket (an empty bbolt file included: only a missing
	// or zero-length file is made a WAL).
	ErrNotWAL = errors.New("store: not a walbatch WAL file")

	// ErrNotRegular is returned by Open and CompactFile for a path that
	// is not a regular file (a directory, a FIFO, a device, a socket),
	// found without opening it in a way that could block. It wraps
	// ErrNotWAL: errors.Is(err, ErrNotWAL) holds for it too.
	ErrNotRegular = fmt.Errorf("%w: not a regular file", ErrNotWAL)

	// ErrVersion is returned by Open for a WAL written by a newer format
	// version than this build understands.
	ErrVersion = errors.New("store: unsupported WAL format version")

	// ErrCorrupt is returned when the file is damaged: bad meta pages, a
	// file shorter than its pages, a page bbolt cannot read, or a record
	// whose checksum fails. It is also returned, instead of a panic, when
	// bbolt panics on damaged pages.
	ErrCorrupt = errors.New("store: WAL file is corrupt")

	// ErrNoSpace is returned when a write fails because the disk is full.
	// Nothing committed before is harmed; writes succeed again once space
	// is freed.
	ErrNoSpace = errors.New("store: no space left on device")

	// ErrReadOnly is returned when a write is attempted on a DB opened
	// read-only.
	ErrReadOnly = errors.New("store: WAL opened read-only")

	// ErrClosed is returned by operations on a closed DB.
	ErrClosed = errors.New("store: WAL is closed")
)
