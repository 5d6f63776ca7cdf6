package processor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/wal"
)

// A per-event result completes the delivered events, dead-letters the
// permanent ones each with its own reason, and retries only the rest under
// the same batch ID; counters, notifications and the file agree.
func TestPerEventMixedOutcomes(t *testing.T) {
	noLeaks(t)
	s := newRecSink(func(_ context.Context, a attempt) error {
		errs := make([]error, len(a.Ns))
		for i, n := range a.Ns {
			switch {
			case n%3 == 1:
				errs[i] = dispatcher.Permanent(fmt.Errorf("bad %d", n%2))
			case n%3 == 2 && a.Attempt == 1:
				errs[i] = dispatcher.Retryable(errors.New("busy"), 30*time.Millisecond)
			}
		}
		return dispatcher.PerEvent(errs)
	})
	path := walPath(t)
	p := openP(t, path, s, quiet(WithBatchSize(6), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	var ns notes
	ns.subscribe(p, BatchDispatched, RetryScheduled, DeadLettered)
	enqueueN(t, p, 0, 6)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))

	at := s.all()
	require.Len(t, at, 2)
	require.Equal(t, seqN(0, 6), at[0].Ns)
	require.Equal(t, []int{2, 5}, at[1].Ns, "only the retryable events are sent again")
	require.Equal(t, at[0].BatchID, at[1].BatchID)
	require.Equal(t, 2, at[1].Attempt)
	require.ElementsMatch(t, []int{0, 3, 2, 5}, s.delivered())

	st := p.Stats()
	require.EqualValues(t, 4, st.Delivered)
	require.EqualValues(t, 4, st.DeliveredTotal)
	require.EqualValues(t, 2, st.DeadLettered)
	require.EqualValues(t, 2, st.DeadLetteredSinceOpen)
	require.EqualValues(t, 1, st.Retried)
	require.EqualValues(t, 1, st.RetriedSinceOpen)
	require.Zero(t, st.PendingEvents+st.InFlightEvents)

	d := ns.of(BatchDispatched)
	require.Len(t, d, 2)
	require.Equal(t, 2, d[0].Delivered)
	require.Equal(t, OutcomePerEvent, d[0].Outcome())
	require.Equal(t, 2, d[1].Delivered)
	require.Equal(t, OutcomeSuccess, d[1].Outcome())
	r := ns.of(RetryScheduled)
	require.Len(t, r, 1)
	require.Equal(t, 2, r[0].Count)
	require.Equal(t, 1, r[0].Attempt)
	require.False(t, r[0].NextAttempt.Before(at[0].At.Add(30*time.Millisecond)), "the Retry-After is honoured")
	dl := ns.of(DeadLettered)
	require.Len(t, dl, 2, "one per distinct reason")
	reasons := []string{dl[0].Err.Error(), dl[1].Err.Error()}
	sort.Strings(reasons)
	require.Equal(t, []string{"permanent: bad 0", "permanent: bad 1"}, reasons)
	require.Equal(t, 2, dl[0].Count+dl[1].Count)

	inspect(t, path, func(ws *wal.Stream) {
		dead := deadLetters(t, ws)
		require.Len(t, dead, 2)
		require.Equal(t, "permanent: bad 1", dead[0].Reason) // N 1
		require.Equal(t, "permanent: bad 0", dead[1].Reason) // N 4
		for _, x := range dead {
			require.Equal(t, at[0].BatchID, x.BatchID)
			require.Equal(t, 1, x.Attempts)
		}
		require.EqualValues(t, 4, ws.Stats().CompletedEvents)
	})
	rep, err := recovery.Verify(path, nil)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep)
}

// Careless per-event results: too short, too long, a nil *EventErrors, a
// typed nil entry, all delivered, and a retry budget spent.
func TestPerEventCarelessOutcomes(t *testing.T) {
	var nilUser *userError
	for _, tc := range []struct {
		name      string
		errs      func(a attempt) error
		attempts  int
		delivered int
		reasons   []string // of the dead letters, in event order
	}{
		{name: "short", attempts: 2, delivered: 3, errs: func(a attempt) error {
			if a.Attempt == 1 {
				return &dispatcher.EventErrors{Errs: []error{nil, nil}} // the third: no outcome reported
			}
			return nil
		}},
		{name: "long", attempts: 1, delivered: 2, reasons: []string{"permanent: x"}, errs: func(a attempt) error {
			return dispatcher.PerEvent([]error{nil, dispatcher.Permanent(errors.New("x")), nil, dispatcher.Permanent(nil), errors.New("ignored")})
		}},
		{name: "all nil entries", attempts: 1, delivered: 3, errs: func(a attempt) error {
			return &dispatcher.EventErrors{Errs: []error{nil, nil, nil}}
		}},
		{name: "nil *EventErrors", attempts: 2, delivered: 0, reasons: []string{
			"gave up after 2 attempts: dispatcher: no outcome reported for this event",
			"gave up after 2 attempts: dispatcher: no outcome reported for this event",
			"gave up after 2 attempts: dispatcher: no outcome reported for this event"},
			errs: func(a attempt) error { return (*dispatcher.EventErrors)(nil) }},
		{name: "typed nil entry", attempts: 2, delivered: 2, reasons: []string{
			"gave up after 2 attempts: processor: the dispatcher reported an event outcome that panics when read (*processor.userError): runtime error: invalid memory address or nil pointer dereference"},
			errs: func(a attempt) error {
				if a.Attempt == 1 {
					return dispatcher.PerEvent([]error{nil, nilUser, nil})
				}
				return dispatcher.PerEvent([]error{nilUser})
			}},
		{name: "wrapped in Partial", attempts: 1, delivered: 2, reasons: []string{"permanent: (no reason given)"}, errs: func(a attempt) error {
			return dispatcher.Partial(3, dispatcher.PerEvent([]error{nil, dispatcher.Permanent(nil), nil}))
		}},
		{name: "budget spent", attempts: 2, delivered: 1, reasons: []string{"gave up after 2 attempts: busy", "permanent: no"}, errs: func(a attempt) error {
			if a.Attempt == 1 {
				return dispatcher.PerEvent([]error{nil, errors.New("busy"), dispatcher.Permanent(errors.New("no"))})
			}
			return dispatcher.PerEvent([]error{errors.New("busy")})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			s := newRecSink(func(_ context.Context, a attempt) error { return tc.errs(a) })
			path := walPath(t)
			p := openP(t, path, s, quiet(WithBatchSize(3), WithMaxRetries(1), WithRetryDelay(time.Millisecond, time.Millisecond))...)
			enqueueN(t, p, 0, 3)
			require.NoError(t, p.Flush(context.Background()))
			require.NoError(t, p.Stop(context.Background()))
			require.Equal(t, tc.attempts, s.count())
			st := p.Stats()
			require.EqualValues(t, tc.delivered, st.Delivered)
			require.EqualValues(t, len(tc.reasons), st.DeadLettered)
			require.Zero(t, st.PendingEvents+st.InFlightEvents)
			inspect(t, path, func(ws *wal.Stream) {
				var got []string
				for _, dl := range deadLetters(t, ws) {
					got = append(got, dl.Reason)
				}
				require.Equal(t, tc.reasons, got)
			})
			rep, err := recovery.Verify(path, nil)
			require.NoError(t, err)
			require.True(t, rep.OK(), "%v", rep)
		})
	}
}

// A batch left with holes by a per-event result is recovered at the next
// open as it stands: only the events left are sent, under the same batch
// ID, with the attempt counted.
func TestPerEventHolesSurviveRestart(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	first := newRecSink(func(_ context.Context, a attempt) error {
		return dispatcher.PerEvent([]error{nil, errors.New("later"), dispatcher.Permanent(errors.New("no")), nil, errors.New("later")})
	})
	// The retry waits 2 s (kept across the restart); Stop does not wait for it.
	p := openP(t, path, first, quiet(WithBatchSize(5), WithRetryDelay(2*time.Second, 2*time.Second), WithJitter(0),
		WithStopTimeout(10*time.Millisecond))...)
	enqueueN(t, p, 0, 5)
	require.Eventually(t, func() bool { return p.Stats().Retried == 1 }, 15*time.Second, time.Millisecond)
	u := requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream))
	require.Equal(t, Left{InFlightEvents: 2, InFlightBytes: u.InFlightBytes}, u.Left, "the two events waiting to retry, not the dead letter")
	require.EqualValues(t, 2, p.Stats().InFlightEvents)

	second := newRecSink(nil)
	p = openP(t, path, second, quiet(WithRetryDelay(time.Millisecond, time.Millisecond))...)
	require.EqualValues(t, 2, p.Stats().InFlightEvents)
	rep := p.Recovery()
	require.Equal(t, 1, rep.InFlightBatches)
	require.EqualValues(t, 2, rep.InFlightEvents)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	at := second.all()
	require.Len(t, at, 1)
	require.Equal(t, []int{1, 4}, at[0].Ns)
	require.Equal(t, first.all()[0].BatchID, at[0].BatchID)
	require.Equal(t, 2, at[0].Attempt)
	require.EqualValues(t, 4, p.Stats().DeliveredTotal)
	r, err := recovery.Verify(path, nil)
	require.NoError(t, err)
	require.True(t, r.OK(), "%v", r)
}

// The events a per-event result retries share one retry time: the
// backoff, or the longest Retry-After among them when longer. A
// Retry-After shorter than the backoff does not bring the retry forward.
func TestPerEventRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		name         string
		backoff      time.Duration
		after1, want time.Duration
	}{
		{"retry-after longer", 20 * time.Millisecond, time.Hour, time.Hour},
		{"backoff longer", time.Hour, time.Millisecond, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			s := newRecSink(func(_ context.Context, a attempt) error {
				return dispatcher.PerEvent([]error{dispatcher.Retryable(errDown, tc.after1), dispatcher.Retryable(errDown, tc.after1/2)})
			})
			path := walPath(t)
			p := openP(t, path, s, quiet(WithBatchSize(2), WithRetryDelay(tc.backoff, tc.backoff), WithJitter(0),
				WithStopTimeout(10*time.Millisecond))...)
			var ns notes
			ns.subscribe(p, RetryScheduled)
			enqueueN(t, p, 0, 2)
			require.Eventually(t, func() bool { return p.Stats().Retried == 1 }, 15*time.Second, time.Millisecond)
			require.EqualValues(t, 2, requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream)).InFlightEvents)
			r := ns.of(RetryScheduled)
			require.Len(t, r, 1)
			require.Equal(t, 2, r[0].Count)
			require.False(t, r[0].NextAttempt.Before(s.all()[0].At.Add(tc.want)), "next attempt %s", r[0].NextAttempt)
		})
	}
}
