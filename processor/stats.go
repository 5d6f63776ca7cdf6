package processor

import "time"

// Stats is a processor's view of its stream and what it did since open.
type Stats struct {
	Stream string
	// From the WAL (O(1)): what is waiting now.
	PendingEvents   int64
	PendingBytes    int64
	InFlightBatches int64
	InFlightEvents  int64
	DeadEvents      int64
	// OldestPendingAge is how long the oldest event not yet completed has
	// waited; 0 when there is none.
	OldestPendingAge time.Duration
	// Totals since this processor opened.
	Delivered    int64 // events the sink accepted
	Retried      int64 // failed attempts scheduled for a retry
	DeadLettered int64 // events moved to dead letters
	// HandedOff counts dispatched events whose value came from the
	// handoff (see Handoff) instead of being decoded from the WAL.
	HandedOff int64
	// NotificationsDropped counts notifications not delivered because
	// listeners fell too far behind.
	NotificationsDropped int64
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
