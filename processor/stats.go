package processor

import (
	"encoding/json"
	"time"
)

// Stats is a processor's view of its stream and what it did since open.
// As JSON (for store.HandlerOptions.Streams, say) its keys are snake_case,
// as in walctl's JSON, and OldestPendingAge is oldest_pending_age_seconds.
type Stats struct {
	Stream string `json:"stream"`
	// From the WAL (O(1)): what is waiting now.
	PendingEvents   int64 `json:"pending_events"`
	PendingBytes    int64 `json:"pending_bytes"`
	InFlightBatches int64 `json:"inflight_batches"`
	InFlightEvents  int64 `json:"inflight_events"`
	DeadEvents      int64 `json:"dead_events"`
	// OldestPendingAge is how long the oldest event not yet completed has
	// waited; 0 when there is none.
	OldestPendingAge time.Duration `json:"-"`
	// Totals since this processor opened.
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
	st := p.s.Stats()
	out := Stats{
		Stream:               st.Stream,
		PendingEvents:        st.PendingEvents,
		PendingBytes:         st.PendingBytes,
		InFlightBatches:      st.InFlightBatches,
		InFlightEvents:       st.InFlightEvents,
		DeadEvents:           st.DeadEvents,
		Delivered:            p.delivered.Load(),
		Retried:              p.retried.Load(),
		DeadLettered:         p.deadLettered.Load(),
		HandedOff:            p.handedOff.Load(),
		NotificationsDropped: p.notes.dropped.Load(),
	}
	if !st.OldestPending.IsZero() {
		out.OldestPendingAge = time.Since(st.OldestPending)
	}
	return out
}
