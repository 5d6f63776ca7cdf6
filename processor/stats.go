package processor

import (
	"encoding/json"
	"time"

	"github.com/walbatch/walbatch/wal"
)

// Stats is a processor's view of its stream: what is waiting now, totals
// that outlive the processor (the WAL's), and what this processor did
// since it opened. As JSON (for store.HandlerOptions.Streams, say) its keys
// are snake_case, as in walctl's JSON, and OldestPendingAge is
// oldest_pending_age_seconds.
//
// For metrics, use the fields marked "outlive the processor": a Manager
// releases an idle stream's processor and creates a new one on next use,
// and the per-processor counts (Delivered, Retried, DeadLettered) start
// again at 0 then.
type Stats struct {
	Stream string `json:"stream"`
	// From the WAL (O(1)): what is waiting now.
	PendingEvents   int64 `json:"pending_events"`
	PendingBytes    int64 `json:"pending_bytes"`
	InFlightBatches int64 `json:"inflight_batches"`
	InFlightEvents  int64 `json:"inflight_events"`
	InFlightBytes   int64 `json:"inflight_bytes"`
	DeadEvents      int64 `json:"dead_events"`
	DeadBytes       int64 `json:"dead_bytes"`
	// OldestPendingAge is how long the first event not yet completed (the
	// oldest, but for requeued dead letters) has waited since its enqueue
	// time; 0 when there is none (or its enqueue time is after the
	// clock's). Events requeued from the dead letters keep their enqueue
	// times but follow the events pending then: one counts, with its full
	// age, once it is the first, until it is delivered (in a format 1 file,
	// from the requeue on). See wal.Stats.OldestPending.
	OldestPendingAge time.Duration `json:"-"`
	// MaxPendingEvents and MaxPendingBytes are the stream's pending
	// limits (WithMaxPending); 0 is unlimited.
	MaxPendingEvents int64 `json:"max_pending_events"`
	MaxPendingBytes  int64 `json:"max_pending_bytes"`

	// Totals that outlive the processor. DeliveredTotal is persisted in
	// the file: every event completed since the stream was created,
	// across restarts. The ...SinceOpen counts are kept by the open WAL
	// (wal.Stats): they survive a Manager's release of the stream but
	// start at 0 when the file is opened again.
	DeliveredTotal        int64 `json:"delivered_total"`
	RetriedSinceOpen      int64 `json:"retried_since_open"`       // failed attempts scheduled for a retry
	DeadLetteredSinceOpen int64 `json:"dead_lettered_since_open"` // events moved to dead letters, by any path
	RefusedSinceOpen      int64 `json:"refused_since_open"`       // appends refused with ErrFull (see wal.Stats)

	// Counts since this processor opened (reset when a Manager releases
	// the stream).
	Delivered    int64 `json:"delivered"`     // events the sink accepted
	Retried      int64 `json:"retried"`       // failed attempts scheduled for a retry
	DeadLettered int64 `json:"dead_lettered"` // events moved to dead letters
	// HandedOff counts dispatched events whose value came from the
	// handoff (see Handoff) instead of being decoded from the WAL.
	HandedOff int64 `json:"handed_off"`
	// NotificationsDropped counts notifications not delivered because
	// listeners fell too far behind.
	NotificationsDropped int64 `json:"notifications_dropped"`
}

// MarshalJSON encodes s with snake_case keys and the oldest pending age in
// seconds.
func (s Stats) MarshalJSON() ([]byte, error) {
	type fields Stats // without this method
	return json.Marshal(struct {
		fields
		OldestPendingAgeSeconds float64 `json:"oldest_pending_age_seconds"`
	}{fields(s), s.OldestPendingAge.Seconds()})
}

// Stats returns the current counters. It does not touch the disk.
func (p *Processor[T]) Stats() Stats {
	out := StreamStats(p.s.Stats())
	out.Delivered = p.delivered.Load()
	out.Retried = p.retried.Load()
	out.DeadLettered = p.deadLettered.Load()
	out.HandedOff = p.handedOff.Load()
	out.NotificationsDropped = p.notes.dropped.Load()
	return out
}

// StreamStats is the part of Stats that the WAL knows, for a stream with
// no processor (released by a Manager, or not opened by this process):
// the per-processor counts are 0.
func StreamStats(st wal.Stats) Stats {
	out := Stats{
		Stream:                st.Stream,
		PendingEvents:         st.PendingEvents,
		PendingBytes:          st.PendingBytes,
		InFlightBatches:       st.InFlightBatches,
		InFlightEvents:        st.InFlightEvents,
		InFlightBytes:         st.InFlightBytes,
		DeadEvents:            st.DeadEvents,
		DeadBytes:             st.DeadBytes,
		MaxPendingEvents:      st.MaxPendingEvents,
		MaxPendingBytes:       st.MaxPendingBytes,
		DeliveredTotal:        st.CompletedEvents,
		RetriedSinceOpen:      st.RetriedSinceOpen,
		DeadLetteredSinceOpen: st.DeadLetteredSinceOpen,
		RefusedSinceOpen:      st.RefusedSinceOpen,
	}
	if !st.OldestPending.IsZero() {
		out.OldestPendingAge = max(time.Since(st.OldestPending), 0) // an enqueue time after the clock: 0, not negative
	}
	return out
}
