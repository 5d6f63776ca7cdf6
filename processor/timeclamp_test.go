package processor

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// A delay so long that now plus it passes the year 2262 (the end of int64
// nanoseconds) must not wrap the stored next attempt time into the past:
// whatever a dispatcher asks for and whatever the retry options, the
// second attempt waits. Each case fails its first attempt; in the window
// that follows the schedule allows no other attempt, so the count is 1
// (it was thousands when the time wrapped), and the next attempt time in
// the WAL is in the future.
func TestHugeRetryDelaysDoNotWrap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration // the dispatcher's Retry-After; 0: none
		opts  []Option
	}{
		{"retry after 1<<62", 1 << 62, nil},
		{"retry after MaxInt64", math.MaxInt64, nil},
		{"retry after MaxInt64 with a huge cap", math.MaxInt64, []Option{WithRetryDelay(time.Second, math.MaxInt64)}},
		{"base and cap MaxInt64", 0, []Option{WithRetryDelay(math.MaxInt64, math.MaxInt64)}},
		{"base and cap MaxInt64, no jitter", 0, []Option{WithRetryDelay(math.MaxInt64, math.MaxInt64), WithJitter(0)}},
		{"base 1<<62, full jitter", 0, []Option{WithRetryDelay(1<<62, math.MaxInt64), WithJitter(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sink := newRecSink(func(context.Context, attempt) error {
				if tc.after > 0 {
					return dispatcher.Retryable(errDown, tc.after)
				}
				return errDown
			})
			nt := &notes{}
			opts := append(quiet(WithBatchSize(1), WithMaxRetries(1000), WithStopTimeout(50*time.Millisecond),
				WithListener(RetryScheduled, nt.listen)), tc.opts...)
			p := openP(t, walPath(t), sink, opts...)
			enqueueN(t, p, 0, 1)
			require.Eventually(t, func() bool { return len(nt.of(RetryScheduled)) > 0 }, 15*time.Second, time.Millisecond)
			time.Sleep(200 * time.Millisecond) // the window: the schedule allows no second attempt in it
			require.Equal(t, 1, sink.count(), "attempts: a retry delay wrapped into the past")

			now := time.Now()
			bs, err := p.Stream().Batches()
			require.NoError(t, err)
			require.Len(t, bs, 1)
			require.Greater(t, bs[0].NextAttempt, now.UnixNano(), "stored next attempt time")
			require.True(t, bs[0].NextAttemptTime().After(now))
			next := nt.of(RetryScheduled)[0].NextAttempt
			require.True(t, next.After(now), "RetryScheduled's next attempt %s", next)
			require.Equal(t, next.UnixNano(), bs[0].NextAttempt, "the notification and the WAL agree")
		})
	}
}

// WithRetryDelay(0, 0) and a dispatcher asking for a Retry-After of 1ns
// still wait the documented 10ms floor between attempts: over a measured
// window the attempts are at most the window over the floor, plus the
// first. (It ran 178 attempts a second before the floor held.)
func TestRetryFloorBoundsAttempts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		opts  []Option
	}{
		{"retry delay 0, 0", 0, []Option{WithRetryDelay(0, 0)}},
		{"retry delay 0, 0, full jitter", 0, []Option{WithRetryDelay(0, 0), WithJitter(1)}},
		{"retry delay 1ns", 0, []Option{WithRetryDelay(time.Nanosecond, time.Nanosecond), WithJitter(1)}},
		{"retry after 1ns", time.Nanosecond, nil},
		{"retry after -1s", -time.Second, []Option{WithRetryDelay(0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sink := newRecSink(func(context.Context, attempt) error {
				if tc.after != 0 {
					return dispatcher.Retryable(errDown, tc.after)
				}
				return errDown
			})
			start := time.Now()
			path := walPath(t)
			p := openP(t, path, sink, append(quiet(WithBatchSize(1), WithMaxRetries(1_000_000),
				WithStopTimeout(2*time.Second)), tc.opts...)...)
			enqueueN(t, p, 0, 1)
			time.Sleep(300 * time.Millisecond)
			n := sink.count()
			elapsed := time.Since(start)
			require.EqualValues(t, 1, requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream)).InFlightEvents)
			limit := int(elapsed/minRetryDelay) + 1
			require.LessOrEqual(t, n, limit, "%d attempts in %s: the floor of %s between attempts did not hold", n, elapsed, minRetryDelay)
			require.Positive(t, n)
		})
	}
}

// The next attempt time a processor reads back from the WAL is what it
// stored: a reopen keeps a long retry waiting rather than firing at once.
func TestHugeRetryDelaySurvivesReopen(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	sink := newRecSink(func(context.Context, attempt) error { return dispatcher.Retryable(errDown, math.MaxInt64) })
	p := openP(t, path, sink, quiet(WithBatchSize(1), WithStopTimeout(50*time.Millisecond))...)
	enqueueN(t, p, 0, 1)
	require.Eventually(t, func() bool {
		bs, err := p.Stream().Batches()
		return err == nil && len(bs) == 1 && bs[0].Attempts == 1
	}, 15*time.Second, time.Millisecond)
	left := requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream)).Left
	require.EqualValues(t, 1, left.InFlightEvents)

	p = openP(t, path, sink, quiet(WithBatchSize(1), WithStopTimeout(50*time.Millisecond))...)
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, 1, sink.count(), "the reopened processor retried before the stored time")
	require.Equal(t, left, requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream)).Left, "the same batch is left again")
	inspect(t, path, func(s *wal.Stream) {
		bs, err := s.Batches()
		require.NoError(t, err)
		require.Len(t, bs, 1)
		require.True(t, bs[0].NextAttemptTime().After(time.Now()))
	})
}

// A stop timeout of MaxInt64 puts Stop's deadline past the end of int64
// nanoseconds; the notifier must not take it for a deadline in the past
// and drop the notifications still queued for a slow listener.
func TestHugeStopTimeoutKeepsNotifications(t *testing.T) {
	noLeaks(t)
	var calls atomic.Int64
	slow := func(Notification) {
		time.Sleep(100 * time.Millisecond)
		calls.Add(1)
	}
	p := openP(t, walPath(t), newRecSink(nil), quiet(WithBatchSize(1), WithStopTimeout(math.MaxInt64),
		WithListener(BatchDispatched, slow))...)
	enqueueN(t, p, 0, 4)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	require.Zero(t, p.Stats().NotificationsDropped)
	require.EqualValues(t, 4, calls.Load())
}
