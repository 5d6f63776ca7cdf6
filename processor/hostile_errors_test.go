package processor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// These tests return errors from the dispatcher as a hostile or careless
// sink would: each must leave the host running, the batch retried or
// dead-lettered by the usual rules, and the events counted.

// cycleErr is an error whose Unwrap returns itself: errors.Is and
// errors.As loop forever on it when nothing in it matches.
type cycleErr struct{ msg string }

func (e *cycleErr) Error() string { return e.msg }
func (e *cycleErr) Unwrap() error { return e }

// cycleJoin is an error whose Unwrap() []error holds itself, then a
// permanent error.
type cycleJoin struct{}

func (e *cycleJoin) Error() string   { return "join loop" }
func (e *cycleJoin) Unwrap() []error { return []error{e, dispatcher.Permanent(errors.New("deep"))} }

// panicMethods is an error whose Is and As methods panic.
type panicMethods struct{}

func (panicMethods) Error() string    { return "methods panic" }
func (panicMethods) Is(error) bool    { panic("Is called") }
func (panicMethods) As(any) bool      { panic("As called") }
func (panicMethods) Unwrap() error    { return nil }
func (panicMethods) Timeout() bool    { return true }
func (panicMethods) Temporary() bool  { return true }
func (panicMethods) String() string   { return "methods panic" }
func (panicMethods) GoString() string { return "panicMethods{}" }

// ptrErr is an error type whose Error reads its fields: a typed nil
// pointer of it panics when read.
type ptrErr struct{ msg string }

func (e *ptrErr) Error() string { return e.msg }

// runHostile enqueues n events in one batch to a processor whose
// dispatcher always returns what mk returns, waits until the batch is
// resolved (Flush), stops, and returns the processor's stats, the
// outcomes its BatchDispatched notifications report and the path.
func runHostile(t *testing.T, n, retries int, mk func() error) (Stats, []Outcome, string) {
	t.Helper()
	noLeaks(t)
	d := dispatcher.Func[tev](func(context.Context, *dispatcher.Batch[tev]) error { return mk() })
	path := walPath(t)
	p := openP(t, path, d, quiet(WithBatchSize(n), WithMaxRetries(retries), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	var mu sync.Mutex
	var outs []Outcome
	p.Subscribe(BatchDispatched, func(note Notification) {
		o := note.Outcome()
		_ = note.Err.Error() // a listener logging it
		mu.Lock()
		outs = append(outs, o)
		mu.Unlock()
	})
	enqueueN(t, p, 0, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Flush(ctx), "the batch was never resolved")
	require.NoError(t, p.Stop(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	return p.Stats(), append([]Outcome(nil), outs...), path
}

// An error whose Error works once and panics after: read once, on the
// dispatch goroutine, the batch is retried then dead-lettered with its
// message.
func TestErrorPanicsOnSecondRead(t *testing.T) {
	st, outs, path := runHostile(t, 3, 1, func() error { return &onceErr{msg: "down", ok: 1} })
	require.EqualValues(t, 3, st.DeadLettered)
	require.EqualValues(t, 0, st.Delivered)
	require.Equal(t, []string{"0:gave up after 2 attempts: down@2", "1:gave up after 2 attempts: down@2", "2:gave up after 2 attempts: down@2"}, deadReasons(t, path, ""))
	require.Equal(t, []Outcome{OutcomeRetryable, OutcomeRetryable}, outs)
	mustVerifyFile(t, path)
}

// The same, wrapped in Permanent: dead-lettered at the first attempt.
func TestPermanentErrorPanicsOnSecondRead(t *testing.T) {
	st, outs, path := runHostile(t, 2, 3, func() error { return dispatcher.Permanent(&onceErr{msg: "refused", ok: 1}) })
	require.EqualValues(t, 2, st.DeadLettered)
	require.Equal(t, []string{"0:permanent: refused@1", "1:permanent: refused@1"}, deadReasons(t, path, ""))
	require.Equal(t, []Outcome{OutcomePermanent}, outs)
}

// An error whose Error always panics reads as a retryable failure saying
// so.
func TestErrorPanicsAlways(t *testing.T) {
	st, outs, path := runHostile(t, 2, 1, func() error { return &onceErr{msg: "never", ok: 0} })
	require.EqualValues(t, 2, st.DeadLettered)
	for _, r := range deadReasons(t, path, "") {
		require.Contains(t, r, "gave up after 2 attempts: processor: the dispatcher returned an error that panics when read (*processor.onceErr)")
	}
	require.Equal(t, []Outcome{OutcomeRetryable, OutcomeRetryable}, outs)
}

// A typed nil pointer returned as the error: a failure (not a delivery),
// read as retryable.
func TestTypedNilPointerError(t *testing.T) {
	st, outs, path := runHostile(t, 2, 1, func() error {
		var e *ptrErr
		return e
	})
	require.EqualValues(t, 2, st.DeadLettered)
	require.EqualValues(t, 0, st.Delivered)
	for _, r := range deadReasons(t, path, "") {
		require.Contains(t, r, "panics when read (*processor.ptrErr)")
	}
	require.Equal(t, []Outcome{OutcomeRetryable, OutcomeRetryable}, outs)
}

// An error whose Unwrap returns itself: the chain is walked a bounded
// number of links, so the attempt ends (a plain retryable failure) instead
// of spinning the dispatch goroutine forever.
func TestUnwrapCycle(t *testing.T) {
	st, outs, path := runHostile(t, 2, 1, func() error { return &cycleErr{msg: "loop"} })
	require.EqualValues(t, 2, st.DeadLettered)
	require.Equal(t, []string{"0:gave up after 2 attempts: loop@2", "1:gave up after 2 attempts: loop@2"}, deadReasons(t, path, ""))
	require.Equal(t, []Outcome{OutcomeRetryable, OutcomeRetryable}, outs)
}

// A cycle in an Unwrap() []error tree, wrapped by fmt.Errorf and
// errors.Join: the walk stops at its bound too.
func TestUnwrapCycleInTree(t *testing.T) {
	st, _, path := runHostile(t, 1, 0, func() error {
		return errors.Join(errors.New("first"), &cycleJoin{})
	})
	require.EqualValues(t, 1, st.DeadLettered)
	require.Len(t, deadReasons(t, path, ""), 1)
}

// Per-event entries that cycle or panic when read a second time.
func TestPerEventHostileEntries(t *testing.T) {
	st, _, path := runHostile(t, 3, 0, func() error {
		return dispatcher.PerEvent([]error{nil, &cycleErr{msg: "ev loop"}, &onceErr{msg: "ev once", ok: 1}})
	})
	require.EqualValues(t, 1, st.Delivered)
	require.EqualValues(t, 2, st.DeadLettered)
	require.Equal(t, []string{"1:gave up after 1 attempts: ev loop@1", "2:gave up after 1 attempts: ev once@1"}, deadReasons(t, path, ""))
}

// Is and As methods that panic: the attempt is a retryable failure, and a
// listener asking the notification's Outcome is not hit by the panic.
func TestIsAsMethodsPanic(t *testing.T) {
	st, outs, path := runHostile(t, 2, 1, func() error { return panicMethods{} })
	require.EqualValues(t, 2, st.DeadLettered)
	for _, r := range deadReasons(t, path, "") {
		require.Contains(t, r, "gave up after 2 attempts: ")
	}
	require.Equal(t, []Outcome{OutcomeRetryable, OutcomeRetryable}, outs)
}

// maxStoredReason is what the tests allow a reason or LastError in the
// WAL: the bound and the note saying how much was cut.
const maxStoredReason = maxReasonBytes + 64

// requireBounded fails unless s is valid UTF-8 and within the bound.
func requireBounded(t *testing.T, s string) {
	t.Helper()
	require.True(t, utf8.ValidString(s), "not valid UTF-8")
	require.LessOrEqual(t, len(s), maxStoredReason)
	require.NotEmpty(t, s)
}

// A huge error message, with invalid UTF-8 in it, is cut before it
// reaches the WAL: the batch record's LastError and the dead letters'
// reasons are bounded and valid UTF-8, for a whole-batch failure and for
// per-event outcomes.
func TestHugeErrorMessageBounded(t *testing.T) {
	huge := "\xff" + strings.Repeat("x", 4<<20)
	for name, mk := range map[string]func() error{
		"batch": func() error { return errors.New(huge) },
		"per_event": func() error {
			return dispatcher.PerEvent([]error{dispatcher.Permanent(errors.New(huge)), errors.New(huge)})
		},
	} {
		t.Run(name, func(t *testing.T) {
			noLeaks(t)
			d := dispatcher.Func[tev](func(context.Context, *dispatcher.Batch[tev]) error { return mk() })
			path := walPath(t)
			p := openP(t, path, d, quiet(WithBatchSize(2), WithMaxRetries(5), WithRetryDelay(time.Hour, time.Hour))...)
			enqueueN(t, p, 0, 2)
			require.Eventually(t, func() bool { return p.Stats().Retried == 1 }, 30*time.Second, time.Millisecond)
			require.ErrorIs(t, p.Stop(context.Background()), ErrUndelivered)
			inspect(t, path, func(ws *wal.Stream) {
				bs, err := ws.Batches()
				require.NoError(t, err)
				require.Len(t, bs, 1)
				requireBounded(t, bs[0].LastError)
				for _, dl := range deadLetters(t, ws) {
					requireBounded(t, dl.Reason)
				}
			})
			// Nothing acknowledged is lost: after a reopen, the events
			// left in flight are still there.
			st := p.Stats()
			require.EqualValues(t, 2, st.DeadLettered+leftIn(t, path, DefaultStream)[DefaultStream].InFlightEvents)
		})
	}
}
