package processor

import "context"

// Drain returns nil once nothing is pending or in flight for this
// processor's stream: every event acknowledged so far, by this process or
// by one before it (recovered at open), has been delivered or moved to dead
// letters. It dispatches whatever is pending at once, as Flush does,
// whatever the batch size and timers; failed batches follow their retry
// schedule. When ctx ends first it returns ctx's error and the events stay
// queued.
//
// Drain differs from Flush in what it waits for: Flush waits for the events
// enqueued before the call, Drain for the stream to be empty, so events
// enqueued while it waits are waited for too, and under a producer that
// never pauses Drain returns only when ctx ends. Use it to let a service
// finish its backlog before Stop, or in tests instead of polling Stats.
//
// Before Start it returns ErrNotStarted; after Stop began, ErrStopped.
func (p *Processor[T]) Drain(ctx context.Context) error {
	ctx = orBackground(ctx)
	for {
		st := p.s.Stats()
		if st.PendingEvents == 0 && st.InFlightEvents == 0 {
			return p.lifecycleErr() // as Flush would answer
		}
		// Flush returns once every event up to now is done; what is left
		// after it was enqueued meanwhile, so each round waits for newer
		// events only.
		if err := p.Flush(ctx); err != nil {
			return err
		}
	}
}
