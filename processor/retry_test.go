package processor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// After a partial result only the tail is retried, under the same batch ID,
// and the attempt count continues: progress does not reset the budget.
func TestPartialFailureRetriesTail(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(func(_ context.Context, a attempt) error {
		switch a.Attempt {
		case 1:
			return dispatcher.Partial(4, errDown)
		case 2:
			return dispatcher.Partial(3, errDown)
		}
		return errDown
	})
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(10), WithMaxRetries(2),
		WithRetryDelay(5*time.Millisecond, 5*time.Millisecond))...)
	enqueueN(t, p, 0, 10)
	require.NoError(t, p.Flush(context.Background()))

	got := sink.all()
	require.Len(t, got, 3, "attempts 1 and 2 made progress; attempt 3 is the last of a budget of 2 retries")
	id := got[0].BatchID
	require.Equal(t, seqN(0, 10), got[0].Ns)
	require.Equal(t, seqN(4, 6), got[1].Ns)
	require.Equal(t, seqN(7, 3), got[2].Ns)
	for i, a := range got {
		require.Equal(t, id, a.BatchID)
		require.Equal(t, i+1, a.Attempt)
		require.Equal(t, got[0].IDs[len(got[0].IDs)-len(a.IDs):], a.IDs, "event IDs of the tail")
	}
	require.Equal(t, seqN(0, 7), sink.delivered())
	st := p.Stats()
	require.EqualValues(t, 7, st.Delivered)
	require.EqualValues(t, 3, st.DeadLettered)
	require.EqualValues(t, 3, st.DeadEvents)
	dead := deadLetters(t, p.Stream())
	require.Len(t, dead, 3)
	for i, d := range dead {
		v, err := decode[tev](d.Record.Payload)
		require.NoError(t, err)
		require.Equal(t, 7+i, v.N)
		require.Equal(t, id, d.BatchID)
		require.Equal(t, 3, d.Attempts)
		require.Contains(t, d.Reason, "gave up after 3 attempts")
	}
}

// A partial result that reports every event delivered is full delivery.
func TestPartialCoveringAllIsFullDelivery(t *testing.T) {
	for _, n := range []int{5, 50} { // 50: more than the batch, clamped
		noLeaks(t)
		sink := newRecSink(func(context.Context, attempt) error { return dispatcher.Partial(n, errDown) })
		nt := &notes{}
		p := openP(t, walPath(t), sink, quiet(WithBatchSize(5), WithMaxRetries(0))...)
		nt.subscribe(p, BatchDispatched, RetryScheduled, DeadLettered)
		enqueueN(t, p, 0, 5)
		require.NoError(t, p.Flush(context.Background()))
		require.NoError(t, p.Stop(context.Background()))
		require.Len(t, sink.all(), 1)
		st := p.Stats()
		require.EqualValues(t, 5, st.Delivered)
		require.Zero(t, st.Retried)
		require.Zero(t, st.DeadEvents)
		d := nt.of(BatchDispatched)
		require.Len(t, d, 1)
		require.NoError(t, d[0].Err)
		require.Equal(t, 5, d[0].Delivered)
		require.Empty(t, nt.of(RetryScheduled))
		require.Empty(t, nt.of(DeadLettered))
	}
}

// Past the last retry the batch goes to dead letters; an explicit 0 means
// one attempt; not set means the default of 10 retries.
func TestMaxRetriesThenDeadLetter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []Option
		attempts int
	}{
		{"explicit zero", []Option{WithMaxRetries(0)}, 1},
		{"three", []Option{WithMaxRetries(3)}, 4},
		{"default", nil, DefaultMaxRetries + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sink := newRecSink(failing)
			opts := quiet(WithBatchSize(2), WithRetryDelay(time.Millisecond, time.Millisecond))
			p := openP(t, walPath(t), sink, append(opts, tc.opts...)...)
			enqueueN(t, p, 0, 2)
			require.NoError(t, p.Flush(context.Background()))
			got := sink.all()
			require.Len(t, got, tc.attempts)
			for i, a := range got {
				require.Equal(t, i+1, a.Attempt)
				require.Equal(t, got[0].BatchID, a.BatchID)
			}
			dead := deadLetters(t, p.Stream())
			require.Len(t, dead, 2)
			require.Equal(t, tc.attempts, dead[0].Attempts)
			require.Contains(t, dead[0].Reason, errDown.Error())
			st := p.Stats()
			require.EqualValues(t, 2, st.DeadEvents)
			require.Zero(t, st.PendingEvents+st.InFlightEvents)
		})
	}
}

// The retry delay doubles per attempt up to its cap, spread by jitter.
func TestBackoffSchedule(t *testing.T) {
	cfg := defaultConfig()
	cfg.retryDelay, cfg.maxRetryDelay, cfg.jitter = 100*time.Millisecond, time.Second, 0
	l := &loop[tev]{p: &Processor[tev]{cfg: cfg}}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, w := range want {
		require.Equal(t, w*time.Millisecond, l.backoff(i+1), "after attempt %d", i+1)
	}
	l.p.cfg.jitter = 0.2
	for range 200 {
		d := l.backoff(3)
		require.GreaterOrEqual(t, d, 320*time.Millisecond)
		require.LessOrEqual(t, d, 480*time.Millisecond)
	}
}

// The retry delay grows from attempt to attempt, as recorded in the WAL
// and announced in the notifications, and the sink's retry-after wins.
func TestRetryDelayGrowsAndHonoursRetryAfter(t *testing.T) {
	noLeaks(t)
	const base = 20 * time.Millisecond
	sink := newRecSink(failing)
	nt := &notes{}
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1), WithRetryDelay(base, time.Second), WithJitter(0),
		WithMaxRetries(4))...)
	nt.subscribe(p, RetryScheduled)
	var recorded []time.Time // NextAttempt as the WAL holds it after each failure
	p.Subscribe(RetryScheduled, func(n Notification) {
		bs, err := p.Stream().Batches()
		if err == nil && len(bs) == 1 {
			recorded = append(recorded, bs[0].NextAttemptTime())
		}
	})
	enqueueN(t, p, 0, 1)
	require.NoError(t, p.Flush(context.Background()))
	got := sink.all()
	require.Len(t, got, 5)
	require.NoError(t, p.Stop(context.Background()))
	r := nt.of(RetryScheduled)
	require.Len(t, r, 4)
	for i, n := range r {
		wait := base << i
		// The retry was scheduled at least wait after the attempt began,
		// and the next attempt did not start before it.
		require.GreaterOrEqual(t, n.NextAttempt.Sub(got[i].At), wait, "retry %d", i+1)
		require.False(t, got[i+1].At.Before(n.NextAttempt.Add(-time.Millisecond)), "attempt %d ran early", i+2)
		if i > 0 {
			require.Greater(t, n.NextAttempt.Sub(got[i].At), r[i-1].NextAttempt.Sub(got[i-1].At), "the delay did not grow")
		}
	}
	require.Len(t, recorded, 4)
	for i := range recorded {
		require.True(t, recorded[i].Equal(r[i].NextAttempt), "WAL holds %s, notification said %s", recorded[i], r[i].NextAttempt)
	}

	// Retry-After replaces the computed delay.
	const after = 300 * time.Millisecond
	var calls atomic.Int64
	sink2 := newRecSink(func(context.Context, attempt) error {
		if calls.Add(1) == 1 {
			return dispatcher.Retryable(errDown, after)
		}
		return nil
	})
	nt2 := &notes{}
	p2 := openP(t, walPath(t), sink2, quiet(WithBatchSize(1), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	nt2.subscribe(p2, RetryScheduled)
	enqueueN(t, p2, 0, 1)
	require.NoError(t, p2.Flush(context.Background()))
	require.NoError(t, p2.Stop(context.Background()))
	got = sink2.all()
	require.Len(t, got, 2)
	require.GreaterOrEqual(t, got[1].At.Sub(got[0].At), after-time.Millisecond)
	r = nt2.of(RetryScheduled)
	require.Len(t, r, 1)
	require.GreaterOrEqual(t, r[0].NextAttempt.Sub(got[0].At), after)
}

// The retry state (attempts, next attempt, last error) survives a restart:
// the budget is not reset by reopening.
func TestRetryStatePersistsAcrossReopen(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	opts := quiet(WithBatchSize(3), WithMaxRetries(8), WithRetryDelay(30*time.Millisecond, 30*time.Millisecond),
		WithStopTimeout(30*time.Millisecond))
	sink := newRecSink(failing)
	p := openP(t, path, sink, opts...)
	enqueueN(t, p, 0, 3)
	require.Eventually(t, func() bool { return sink.count() >= 2 }, 10*time.Second, time.Millisecond)
	u := requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream))
	require.EqualValues(t, 3, u.InFlightEvents, "the failing batch is left in flight")
	batchID := sink.all()[0].BatchID

	var failed int
	inspect(t, path, func(s *wal.Stream) {
		bs, err := s.Batches()
		require.NoError(t, err)
		require.Len(t, bs, 1)
		failed = bs[0].Attempts
		require.Equal(t, batchID, bs[0].ID)
		require.Contains(t, bs[0].LastError, errDown.Error())
		require.False(t, bs[0].NextAttemptTime().IsZero())
	})
	require.GreaterOrEqual(t, failed, 2)
	require.LessOrEqual(t, failed, 8, "dead-lettered before the reopen; make the test's timing looser")

	sink2 := newRecSink(failing)
	p2 := openP(t, path, sink2, append(opts, WithStopTimeout(3*time.Second))...)
	require.NoError(t, p2.Flush(context.Background()))
	got := sink2.all()
	require.Len(t, got, 9-failed, "attempts left after the reopen")
	require.Equal(t, failed+1, got[0].Attempt)
	require.Equal(t, batchID, got[0].BatchID)
	dead := deadLetters(t, p2.Stream())
	require.Len(t, dead, 3)
	require.Equal(t, 9, dead[0].Attempts)
}

// A failing sink never causes a hot loop, however short the flush timers:
// attempts follow the retry schedule.
func TestFailingSinkDoesNotHotLoop(t *testing.T) {
	noLeaks(t)
	const delay = 40 * time.Millisecond
	sink := newRecSink(failing)
	p := openP(t, walPath(t), sink, WithBatchSize(1), WithMaxAge(time.Millisecond), WithInactiveTimeout(time.Millisecond),
		WithRetryDelay(delay, delay), WithJitter(0), WithMaxRetries(100000), WithStopTimeout(50*time.Millisecond))
	enqueueN(t, p, 0, 1)
	const window = 600 * time.Millisecond
	time.Sleep(window)
	n := sink.count()
	require.GreaterOrEqual(t, n, 1)
	require.LessOrEqual(t, n, int(window/delay)+1, "%d attempts in %s with a %s retry delay", n, window, delay)
	got := sink.all()
	for i := 1; i < len(got); i++ {
		require.GreaterOrEqual(t, got[i].At.Sub(got[i-1].At), delay-time.Millisecond)
	}
}

// A permanent error dead-letters the batch at once, with the reason.
func TestPermanentErrorDeadLettersAtOnce(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(func(context.Context, attempt) error {
		return dispatcher.Permanent(errors.New("HTTP 400: unknown field \"colour\""))
	})
	nt := &notes{}
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(3))...)
	nt.subscribe(p, DeadLettered, RetryScheduled)
	enqueueN(t, p, 0, 3)
	require.NoError(t, p.Flush(context.Background()))
	require.Len(t, sink.all(), 1)
	dead := deadLetters(t, p.Stream())
	require.Len(t, dead, 3)
	for i, d := range dead {
		require.Contains(t, d.Reason, `unknown field "colour"`)
		require.Equal(t, 1, d.Attempts)
		require.Equal(t, sink.all()[0].IDs[i], d.Record.ID.String())
	}
	st := p.Stats()
	require.EqualValues(t, 3, st.DeadEvents)
	require.EqualValues(t, 3, st.DeadLettered)
	require.Zero(t, st.Retried)
	require.NoError(t, p.Stop(context.Background()))
	require.Len(t, nt.of(DeadLettered), 1)
	require.Empty(t, nt.of(RetryScheduled))
}

// A retry delay of 0 is allowed (Apache APISIX's batch processor allows retry_delay 0)
// but never makes a hot loop: computed delays have a floor.
func TestZeroRetryDelayHasAFloor(t *testing.T) {
	l := &loop[int]{p: &Processor[int]{cfg: defaultConfig()}}
	l.p.cfg.retryDelay, l.p.cfg.maxRetryDelay, l.p.cfg.jitter = 0, 0, 0
	for attempt := 1; attempt < 5; attempt++ {
		require.Equal(t, minRetryDelay, l.backoff(attempt))
	}
}
