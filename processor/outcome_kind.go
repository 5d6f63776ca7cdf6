package processor

import (
	"context"
	"errors"

	"github.com/walbatch/walbatch/dispatcher"
)

// Outcome classifies a dispatch attempt, for metrics: the outcome label of
// the metrics modules' attempt counters.
type Outcome string

// The outcomes of a dispatch attempt.
const (
	OutcomeSuccess   Outcome = "success"   // every event delivered
	OutcomePartial   Outcome = "partial"   // the first events delivered, the rest failed (dispatcher.Partial)
	OutcomePerEvent  Outcome = "per_event" // outcomes reported per event (dispatcher.PerEvent), not all delivered
	OutcomeRetryable Outcome = "retryable" // failed, to be retried (unless the budget is spent)
	OutcomePermanent Outcome = "permanent" // refused for good: dead letters
	OutcomePanic     Outcome = "panic"     // the dispatcher panicked (recovered)
	OutcomeTimeout   Outcome = "timeout"   // the dispatch timeout ran out
)

// Outcome classifies the attempt a BatchDispatched notification reports
// (meaningless for other kinds).
func (n Notification) Outcome() Outcome {
	if n.Err == nil {
		return OutcomeSuccess
	}
	if e, ok := n.Err.(*attemptError); ok { // the processor's: read once, nothing to walk
		switch {
		case e.v.perEvent:
			return OutcomePerEvent
		case n.Delivered > 0:
			return OutcomePartial
		case e.v.panicked:
			return OutcomePanic
		case e.v.permanent:
			return OutcomePermanent
		case e.v.timeout:
			return OutcomeTimeout
		}
		return OutcomeRetryable
	}
	switch {
	case isPerEvent(n.Err):
		return OutcomePerEvent
	case n.Delivered > 0:
		return OutcomePartial
	case errors.Is(n.Err, ErrDispatcherPanicked):
		return OutcomePanic
	case dispatcher.IsPermanent(n.Err):
		return OutcomePermanent
	case errors.Is(n.Err, context.DeadlineExceeded):
		return OutcomeTimeout
	}
	return OutcomeRetryable
}

// isPerEvent reports whether err carries per-event outcomes.
func isPerEvent(err error) bool {
	var e *dispatcher.EventErrors
	return errors.As(err, &e)
}
