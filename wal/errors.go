package wal

import (
	"errors"
	"fmt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
)

// Sentinel errors of the log. Errors from the file itself (locked, not a
// WAL, newer version, corrupt, disk full) are the store package's sentinels,
// re-exported here so callers need one import.
var (
	// ErrFull is returned by Append when the stream's pending limits
	// (events or bytes, counting everything acknowledged and not yet
	// completed) would be passed. Nothing was written.
	ErrFull = errors.New("wal: stream pending limit reached")

	// ErrClosed is returned by operations on a closed Log.
	ErrClosed = errors.New("wal: log is closed")

	// ErrNoBatch is returned by batch transitions naming a batch that is not
	// in flight (already completed, dead-lettered, or never sealed).
	ErrNoBatch = errors.New("wal: no such in-flight batch")

	// ErrNoStream is returned when a read-only log is asked for a stream it
	// does not contain.
	ErrNoStream = errors.New("wal: no such stream")

	// ErrInvalidName is returned for an empty stream name or one longer
	// than 255 bytes, and when creating a stream whose name is not valid
	// UTF-8 or holds a control or bidi character (see Log.Stream).
	ErrInvalidName = errors.New("wal: invalid stream name")

	// ErrInvalidOptions is returned by Open and New, before they touch
	// the file, for Options they cannot honour: a Sync that is neither
	// SyncAlways nor SyncNone.
	ErrInvalidOptions = errors.New("wal: invalid options")

	// ErrRecord is wrapped by the error ForEachEvent passes, and by
	// DeadLetter.Err, for a stored event whose record envelope is damaged
	// (its checksum fails or it does not parse). Such an error also wraps
	// store.ErrCorrupt.
	ErrRecord = format.ErrRecord
)

func errReadOnly(l *Log) error {
	return fmt.Errorf("wal: %s: %w", l.db.Path(), store.ErrReadOnly)
}
