package processor

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryHorizon(t *testing.T) {
	// Defaults: 11 attempts of 30 s, and retries after 1, 2, 4, ... 256 s
	// and then the 5-minute cap, each stretched by 20% jitter.
	got, err := RetryHorizon()
	require.NoError(t, err)
	delays := (1 + 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256 + 300) * time.Second
	require.Equal(t, 11*30*time.Second+delays*12/10, got)

	got, err = RetryHorizon(WithMaxRetries(3), WithRetryDelay(100*time.Millisecond, 250*time.Millisecond),
		WithJitter(0), WithDispatchTimeout(time.Second), WithBatchSize(5))
	require.NoError(t, err)
	require.Equal(t, 4*time.Second+(100+200+250)*time.Millisecond, got)

	// One attempt, no retry: the dispatch timeout alone.
	got, err = RetryHorizon(WithMaxRetries(0), WithDispatchTimeout(2*time.Second))
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, got)

	// A zero delay is clamped to the processor's floor, as it is when it retries.
	got, err = RetryHorizon(WithMaxRetries(2), WithRetryDelay(0, 0), WithDispatchTimeout(time.Second))
	require.NoError(t, err)
	require.Equal(t, 3*time.Second+2*minRetryDelay, got)

	// Huge budgets saturate instead of overflowing, and return at once.
	got, err = RetryHorizon(WithMaxRetries(math.MaxInt), WithRetryDelay(time.Hour, 1<<62))
	require.NoError(t, err)
	require.Equal(t, maxDuration, got)

	_, err = RetryHorizon(WithMaxRetries(-1))
	require.ErrorIs(t, err, ErrInvalidOption)
}

func TestProcessorRetryHorizon(t *testing.T) {
	opts := []Option{WithMaxRetries(4), WithRetryDelay(10*time.Millisecond, time.Second), WithDispatchTimeout(time.Second)}
	want, err := RetryHorizon(opts...)
	require.NoError(t, err)
	p := openP(t, walPath(t), newRecSink(nil), opts...)
	require.Equal(t, want, p.RetryHorizon())
}

// TestRetryHorizonBoundsBackoff draws the delays the processor really
// waits and checks each is within the bound RetryHorizon adds up.
func TestRetryHorizonBoundsBackoff(t *testing.T) {
	cfg, err := buildConfig([]Option{WithRetryDelay(3*time.Millisecond, 700*time.Millisecond), WithJitter(0.5)})
	require.NoError(t, err)
	l := &loop[tev]{p: &Processor[tev]{cfg: cfg}}
	for n := 1; n <= 12; n++ {
		bound := cfg.longest(cfg.unjittered(n))
		for range 200 {
			require.LessOrEqual(t, l.backoff(n), bound, "attempt %d", n)
		}
	}
}
