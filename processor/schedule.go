package processor

import (
	"math/rand/v2"
	"time"
)

// Every delay the processor schedules (a retry's backoff, a sink's
// Retry-After, the wait after a failed WAL write or seal, Stop's timeout)
// is clamped to [minRetryDelay, maxDelay] before it is added to a time, so
// that no option and no outcome can make a hot loop or overflow: the next
// attempt time is stored in the WAL as int64 Unix nanoseconds, which end
// in the year 2262, and a time past that would wrap into the past.
const (
	// minRetryDelay is the floor of every retry delay, so that a retry
	// delay of 0 (which Apache APISIX's batch processor allows) or a sink asking for
	// a Retry-After of a nanosecond cannot turn a failing sink into a hot
	// loop.
	minRetryDelay = 10 * time.Millisecond
	// maxDelay is the ceiling: a year is longer than any delay meant
	// seriously, and far enough from the end of int64 nanoseconds.
	maxDelay = 365 * 24 * time.Hour
)

// clampDelay keeps a retry delay in [minRetryDelay, maxDelay].
func clampDelay(d time.Duration) time.Duration { return min(max(d, minRetryDelay), maxDelay) }

// retryDelay is the delay after the given failed attempt: the sink's
// Retry-After when the failure carried one (after > 0), else the backoff;
// clamped either way.
func (l *loop[T]) retryDelay(attempts int, after time.Duration) time.Duration {
	if after > 0 {
		return clampDelay(after)
	}
	return l.backoff(attempts)
}

// backoff is the retry delay doubled per attempt after the first, capped,
// spread by jitter, and clamped. It never overflows: the doubling stops at
// the cap, and the jitter is applied in floating point and clamped before
// it becomes a Duration again.
func (l *loop[T]) backoff(attempts int) time.Duration {
	c := l.p.cfg
	d := c.unjittered(attempts)
	if c.jitter > 0 {
		f := float64(d) * (1 + c.jitter*(2*rand.Float64()-1)) // jitter is in [0, 1]: f in [0, 2d]
		if f >= float64(maxDelay) {
			return maxDelay
		}
		d = time.Duration(f)
	}
	return clampDelay(d)
}

// unjittered is the backoff after the given failed attempt before jitter:
// the retry delay doubled per attempt after the first, up to the cap.
func (c *config) unjittered(attempts int) time.Duration {
	d := min(c.retryDelay, c.maxRetryDelay)
	for i := 1; i < attempts && d > 0 && d < c.maxRetryDelay; i++ {
		if d > c.maxRetryDelay/2 {
			return c.maxRetryDelay
		}
		d *= 2
	}
	return d
}

// afterWriteFailure is when to try again after a WAL write failed (a full
// disk): the retry delay, clamped, so a disk that stays full cannot make a
// hot loop.
func (l *loop[T]) afterWriteFailure() int64 {
	return time.Now().Add(clampDelay(l.p.cfg.retryDelay)).UnixNano()
}
