package dispatcher

import (
	"errors"
	"fmt"
	"time"
)

// PartialError reports that the first Delivered events of a batch were
// accepted by the sink and the rest were not. Err says why the rest failed;
// it may itself be permanent or carry a retry-after.
type PartialError struct {
	Delivered int
	Err       error
}

// Partial returns an error saying the first n events were delivered and the
// rest failed with err. A nil err is treated as a retryable failure.
func Partial(n int, err error) error {
	if err == nil {
		err = errors.New("dispatcher: partial delivery")
	}
	return &PartialError{Delivered: n, Err: err}
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("first %d events delivered, rest failed: %v", e.Delivered, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// RetryableError is a failure worth retrying. After, when positive, is the
// delay the sink asked for (HTTP Retry-After); it takes precedence over the
// processor's backoff schedule.
type RetryableError struct {
	Err   error
	After time.Duration
}

// Retryable marks err as retryable after the given delay (0: use the
// processor's backoff).
func Retryable(err error, after time.Duration) error {
	return &RetryableError{Err: err, After: after}
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// PermanentError is a failure that retrying cannot fix (an HTTP 400, an event
// the sink rejects). The processor dead-letters the batch with Err as reason.
type PermanentError struct {
	Err error
}

// Permanent marks err as permanent.
func Permanent(err error) error { return &PermanentError{Err: err} }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err (or anything it wraps) is a *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfter returns the delay the sink asked for, if err carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryableError
	if errors.As(err, &r) && r.After > 0 {
		return r.After, true
	}
	return 0, false
}

// Delivered returns how many leading events of the batch were delivered when
// err is a *PartialError, clamped to [0, total].
func Delivered(err error, total int) (int, bool) {
	var p *PartialError
	if !errors.As(err, &p) {
		return 0, false
	}
	n := p.Delivered
	if n < 0 {
		n = 0
	}
	if n > total {
		n = total
	}
	return n, true
}
