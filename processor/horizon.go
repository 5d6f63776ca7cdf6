package processor

import "time"

// RetryHorizon returns the longest time options let one batch be
// dispatched again after its first attempt began, when the sink never
// asks for a delay of its own: every attempt the retry budget allows
// (WithMaxRetries + 1) running its whole dispatch timeout
// (WithDispatchTimeout), plus the longest delay before each retry
// (WithRetryDelay, doubled per attempt up to its cap, stretched by the
// most WithJitter adds, clamped as the processor clamps it). Options that
// do not shape retries are ignored; invalid ones return the error Open
// would (ErrInvalidOption).
//
// A sink that drops redeliveries only inside a window (a NATS JetStream
// stream's duplicate window, say) drops all of them when the window is
// at least this long. Time the process spends down, or a Retry-After the
// sink sends, or a requeue from dead letters is not included: they can
// make a redelivery later still.
func RetryHorizon(opts ...Option) (time.Duration, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return 0, err
	}
	return cfg.retryHorizon(), nil
}

// RetryHorizon returns RetryHorizon of the options p was made with.
func (p *Processor[T]) RetryHorizon() time.Duration { return p.cfg.retryHorizon() }

func (c *config) retryHorizon() time.Duration {
	total := satMul(c.dispatchTimeout, c.maxRetries+1)
	for n := 1; n <= c.maxRetries; n++ {
		d := c.unjittered(n)
		longest := c.longest(d)
		if d == 0 || d == c.maxRetryDelay { // the same for every later retry
			return satAdd(total, satMul(longest, c.maxRetries-n+1))
		}
		total = satAdd(total, longest)
	}
	return total
}

// longest is the largest delay the processor may wait for a backoff of d:
// d stretched by the most jitter adds, clamped.
func (c *config) longest(d time.Duration) time.Duration {
	f := float64(d) * (1 + c.jitter)
	if f >= float64(maxDelay) {
		return maxDelay
	}
	return clampDelay(time.Duration(f))
}

const maxDuration = time.Duration(1<<63 - 1)

func satAdd(a, b time.Duration) time.Duration {
	if a > maxDuration-b {
		return maxDuration
	}
	return a + b
}

func satMul(d time.Duration, n int) time.Duration {
	if n > 0 && d > maxDuration/time.Duration(n) {
		return maxDuration
	}
	return d * time.Duration(n)
}
