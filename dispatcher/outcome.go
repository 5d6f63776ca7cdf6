package dispatcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/walbatch/walbatch/internal/errwalk"
)

// noReason stands for the cause of an outcome made without one
// (Permanent(nil), Retryable(nil, d), a zero-value error struct).
const noReason = "(no reason given)"

// The outcome types below are safe in any state: every constructor accepts
// nil and any number, and every method works on a zero value and on a nil
// pointer, so a dispatcher's careless outcome can never panic the processor
// that reads it.

// PartialError reports that the first Delivered events of a batch were
// accepted by the sink and the rest were not. Err says why the rest failed;
// it may itself be permanent or carry a retry-after. A nil Err reads as a
// retryable failure.
type PartialError struct {
	Delivered int
	Err       error
}

// Partial returns an error saying the first n events were delivered and the
// rest failed with err. A nil err is treated as a retryable failure. n is
// kept as given; Delivered clamps it to the batch.
func Partial(n int, err error) error {
	if err == nil {
		err = errors.New("dispatcher: partial delivery")
	}
	return &PartialError{Delivered: n, Err: err}
}

func (e *PartialError) Error() string {
	if e == nil {
		return "partial delivery " + noReason
	}
	return fmt.Sprintf("first %d events delivered, rest failed: %s", e.Delivered, reason(e.Err))
}

// Unwrap returns Err (nil for a nil pointer).
func (e *PartialError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// RetryableError is a failure worth retrying. After, when positive, is the
// delay the sink asked for (HTTP Retry-After); it takes precedence over the
// processor's backoff schedule. A zero or negative After asks for no
// particular delay.
type RetryableError struct {
	Err   error
	After time.Duration
}

// Retryable marks err as retryable after the given delay (0 or less: use
// the processor's backoff). A nil err reads as "(no reason given)".
func Retryable(err error, after time.Duration) error {
	return &RetryableError{Err: err, After: after}
}

func (e *RetryableError) Error() string {
	if e == nil {
		return "retryable failure " + noReason
	}
	if e.After > 0 {
		return fmt.Sprintf("%s (retry after %s)", reason(e.Err), e.After)
	}
	return reason(e.Err)
}

// Unwrap returns Err (nil for a nil pointer).
func (e *RetryableError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// PermanentError is a failure that retrying cannot fix (an HTTP 400, an event
// the sink rejects). The processor dead-letters the batch with Error() as
// reason: "permanent: " and Err's message, or "permanent: (no reason given)"
// when Err is nil.
type PermanentError struct {
	Err error
}

// Permanent marks err as permanent. A nil err is allowed.
func Permanent(err error) error { return &PermanentError{Err: err} }

func (e *PermanentError) Error() string {
	if e == nil {
		return "permanent: " + noReason
	}
	return "permanent: " + reason(e.Err)
}

// Unwrap returns Err (nil for a nil pointer).
func (e *PermanentError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// reason is err's message, or noReason when err is nil or its message is
// empty.
func reason(err error) string {
	if err == nil {
		return noReason
	}
	if msg := err.Error(); msg != "" {
		return msg
	}
	return noReason
}

// safeReason is reason(err), or a note saying err's Error panicked (a typed
// nil pointer of a type whose Error method reads its fields).
func safeReason(err error) string {
	if err == nil {
		return noReason
	}
	if msg, _ := message(err); msg != "" {
		return msg
	}
	return noReason
}

// message returns err.Error(), or a note saying it panicked and false.
func message(err error) (msg string, ok bool) {
	defer func() {
		if rec := recover(); rec != nil {
			msg, ok = fmt.Sprintf("(%T: Error panicked: %v)", err, rec), false
		}
	}()
	return err.Error(), true
}

// The functions below read an error that may come from a sink, a user's
// callback or a remote peer, so they do not trust it: each looks at most
// 64 errors of err's tree, in the order errors.As visits them (err first,
// then depth first), calling each Unwrap method once. Past 64 (an Unwrap
// cycle, or a tree that large) they stop looking, and an Unwrap or As
// method that panics counts as having found nothing; they always return,
// and never panic. For any error with fewer than 64 errors in its tree
// and no method that panics, they answer as errors.As does.

// IsPermanent reports whether err (or anything it wraps, among the first
// 64 errors of its tree) is a *PermanentError.
func IsPermanent(err error) bool {
	_, ok := errwalk.As[*PermanentError](errwalk.Tree(err))
	return ok
}

// RetryAfter returns the delay the sink asked for, if err carries a positive
// one: the first *RetryableError among the first 64 errors of err's tree.
func RetryAfter(err error) (time.Duration, bool) {
	r, ok := errwalk.As[*RetryableError](errwalk.Tree(err))
	if ok && r != nil && r.After > 0 {
		return r.After, true
	}
	return 0, false
}

// Delivered returns how many leading events of the batch were delivered when
// err is a *PartialError (the first among the first 64 errors of its tree),
// clamped to [0, total].
func Delivered(err error, total int) (int, bool) {
	p, ok := errwalk.As[*PartialError](errwalk.Tree(err))
	if !ok {
		return 0, false
	}
	if p == nil {
		return 0, true
	}
	return max(0, min(p.Delivered, total)), true
}
