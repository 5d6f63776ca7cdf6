package dispatcher

import (
	"errors"
	"fmt"

	"github.com/walbatch/walbatch/internal/errwalk"
)

// EventErrors reports one outcome per event of the dispatched batch, in the
// batch's order.
//
// Errs[i] is the outcome of the batch's event i: nil means delivered; an
// error for which IsPermanent is true dead-letters that event alone, with
// its Error() as the reason; any other error retries that event (a
// RetryAfter it carries is honoured). A batch longer than Errs reads the
// missing events as retryable ("no outcome reported"); entries beyond the
// batch are ignored. Each entry is read as one event's outcome only: an
// entry that is itself a *PartialError or an *EventErrors counts as
// permanent or retryable by IsPermanent, like any other error.
//
// EventErrors has no Unwrap: IsPermanent and RetryAfter of the whole
// result are false, so nothing reads one event's outcome as the batch's.
//
// One rule when an error chain holds both an *EventErrors and a
// *PartialError (Partial(n, PerEvent(errs)), say): the *EventErrors wins.
// The processor reads the per-event outcomes, as EventOutcomes finds them,
// and ignores the *PartialError's count: per-event outcomes are the more
// precise. (An *EventErrors cannot hold a *PartialError that Delivered
// would find, having no Unwrap.)
type EventErrors struct {
	Errs []error
}

// PerEvent returns nil when every entry of errs is nil (the whole batch was
// delivered; an empty errs included), else &EventErrors{Errs: errs}. errs
// is kept as given, not copied. See EventErrors for how each entry is read.
//
// PerEvent does not know the batch's length: give it one entry per event.
// An errs shorter than the batch whose entries are all nil returns nil,
// which says the whole batch was delivered; to leave the rest to a retry,
// return &EventErrors{Errs: errs} itself.
func PerEvent(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return &EventErrors{Errs: errs}
		}
	}
	return nil
}

// Error summarizes the outcomes: how many events failed out of those
// reported, and the first failure's reason, e.g. "3 of 10 events failed:
// first: permanent: too large". It works on a nil pointer and on entries
// whose own Error panics.
func (e *EventErrors) Error() string {
	if e == nil {
		return "per-event outcomes: none reported " + noReason
	}
	failed, first := 0, ""
	for _, err := range e.Errs {
		if err == nil {
			continue
		}
		if failed++; failed == 1 {
			first = safeReason(err)
		}
	}
	if failed == 0 {
		return fmt.Sprintf("0 of %d events failed", len(e.Errs))
	}
	return fmt.Sprintf("%d of %d events failed: first: %s", failed, len(e.Errs), first)
}

// errNoOutcome is the outcome of an event a shorter EventErrors left out.
var errNoOutcome = errors.New("dispatcher: no outcome reported for this event")

// EventOutcomes returns the per-event outcomes when err is, or wraps, an
// *EventErrors: a new slice of exactly n entries (n below 0 reads as 0),
// Errs[i] for each event the dispatcher reported on and a retryable "no
// outcome reported" error for each it left out (all of them for a nil
// *EventErrors). It returns nil, false for any other err. Like
// IsPermanent, it looks at most 64 errors of err's tree, always returns
// and never panics; it reads no entry of Errs.
func EventOutcomes(err error, n int) ([]error, bool) {
	e, ok := errwalk.As[*EventErrors](errwalk.Tree(err))
	if !ok {
		return nil, false
	}
	n = max(n, 0)
	out := make([]error, n)
	reported := 0
	if e != nil {
		reported = copy(out, e.Errs)
	}
	for i := reported; i < n; i++ {
		out[i] = errNoOutcome
	}
	return out, true
}
