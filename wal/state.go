package wal

import (
	"time"

	"github.com/walbatch/walbatch/internal/format"
)

// Stats is a stream's counters, read from memory: O(1) whatever the backlog.
type Stats struct {
	Stream string `json:"stream"`
	// Pending is events appended and not yet sealed into a batch.
	PendingEvents int64 `json:"pending_events"`
	PendingBytes  int64 `json:"pending_bytes"`
	// InFlight is events in sealed batches not yet completed (dispatching,
	// or waiting to retry).
	InFlightBatches int64 `json:"inflight_batches"`
	InFlightEvents  int64 `json:"inflight_events"`
	InFlightBytes   int64 `json:"inflight_bytes"`
	// Dead is events in the dead-letter store. DeadBytes counts the
	// payload of each, or the stored length of a record that fails its
	// checksum (quarantined as corrupt), as recovery.Verify's scan does.
	DeadEvents int64 `json:"dead_events"`
	DeadBytes  int64 `json:"dead_bytes"`
	// Completed is totals since the stream was created.
	CompletedBatches int64 `json:"completed_batches_total"`
	CompletedEvents  int64 `json:"completed_events_total"`
	// OldestPending is the enqueue time of the first event not completed
	// (pending or in flight); zero when there is none. Dead letters do not
	// count. That is the oldest one, except that an event requeued from
	// the dead letters follows younger ones with its original enqueue time
	// and counts once it is the first (in a format 1 file it counts from
	// the Requeue on). See the package documentation, Counters.
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	// LastSeq is the last sequence number assigned.
	LastSeq uint64 `json:"last_seq"`
	// SealedThrough is the last sequence number sealed into a batch.
	SealedThrough uint64 `json:"sealed_through"`
	// MaxPendingEvents and MaxPendingBytes are the pending limits set by
	// SetLimits (what ErrFull guards); 0 is unlimited.
	MaxPendingEvents int64 `json:"max_pending_events"`
	MaxPendingBytes  int64 `json:"max_pending_bytes"`
	// Counts since the Log was opened, kept in memory only (a restart
	// starts them at 0; see CompletedEvents for a persistent total):
	// failed attempts recorded by Retry, events moved to dead letters
	// (by any path: a dead batch, a corrupt or undecodable record), and
	// appends refused with ErrFull (each refused call; a blocking
	// Enqueue counts each time it tries again and is refused).
	RetriedSinceOpen      int64 `json:"retried_since_open"`
	DeadLetteredSinceOpen int64 `json:"dead_lettered_since_open"`
	RefusedSinceOpen      int64 `json:"refused_since_open"`
}

// Outstanding is every acknowledged event not yet completed: what pending
// limits count.
func (s Stats) Outstanding() (events, bytes int64) {
	return s.PendingEvents + s.InFlightEvents, s.PendingBytes + s.InFlightBytes
}

// stateStats returns the Stats that st shows for the stream name.
func stateStats(s *format.State, name string) Stats {
	st := Stats{
		Stream:           name,
		PendingEvents:    int64(s.PendingCount),
		PendingBytes:     int64(s.PendingBytes),
		InFlightBatches:  int64(s.InflightBatches),
		InFlightEvents:   int64(s.InflightCount),
		InFlightBytes:    int64(s.InflightBytes),
		DeadEvents:       int64(s.DeadCount),
		DeadBytes:        int64(s.DeadBytes),
		CompletedBatches: int64(s.CompletedBatches),
		CompletedEvents:  int64(s.CompletedEvents),
		LastSeq:          s.NextSeq - 1,
		SealedThrough:    s.SealedThrough,
	}
	if s.OldestNanos != 0 {
		st.OldestPending = time.Unix(0, s.OldestNanos)
	}
	return st
}
