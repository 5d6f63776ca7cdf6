package processor

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// userError is a user's error type whose Error dereferences its receiver:
// a typed nil pointer of it, returned as an error, panics when read.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

// A dispatcher's careless outcome (no cause, a zero value, a nil pointer, a
// nonsense count, an error that panics when read) never panics the
// processor: the batch is delivered, retried or dead-lettered with a reason
// that says what it could.
func TestCarelessOutcomesAreHandledWithoutAPanic(t *testing.T) {
	var nilUser *userError
	for _, tc := range []struct {
		name      string
		err       func() error
		delivered int
		attempts  int    // dispatch attempts of the batch
		reason    string // of the dead letters
	}{
		{name: "Permanent(nil)", err: func() error { return dispatcher.Permanent(nil) },
			attempts: 1, reason: "permanent: (no reason given)"},
		{name: "zero PermanentError", err: func() error { return &dispatcher.PermanentError{} },
			attempts: 1, reason: "permanent: (no reason given)"},
		{name: "nil *PermanentError", err: func() error { return (*dispatcher.PermanentError)(nil) },
			attempts: 1, reason: "permanent: (no reason given)"},
		{name: "Retryable(nil, 0)", err: func() error { return dispatcher.Retryable(nil, 0) },
			attempts: 2, reason: "gave up after 2 attempts: (no reason given)"},
		{name: "Retryable(nil, 20ms)", err: func() error { return dispatcher.Retryable(nil, 20*time.Millisecond) },
			attempts: 2, reason: "gave up after 2 attempts: (no reason given) (retry after 20ms)"},
		{name: "nil *RetryableError", err: func() error { return (*dispatcher.RetryableError)(nil) },
			attempts: 2, reason: "gave up after 2 attempts: retryable failure (no reason given)"},
		{name: "Partial(1, Permanent(nil))", err: func() error { return dispatcher.Partial(1, dispatcher.Permanent(nil)) },
			delivered: 1, attempts: 1, reason: "first 1 events delivered, rest failed: permanent: (no reason given)"},
		{name: "Partial(-5, Permanent(nil))", err: func() error { return dispatcher.Partial(-5, dispatcher.Permanent(nil)) },
			attempts: 1, reason: "first -5 events delivered, rest failed: permanent: (no reason given)"},
		{name: "zero PartialError", err: func() error { return &dispatcher.PartialError{} },
			attempts: 2, reason: "gave up after 2 attempts: first 0 events delivered, rest failed: (no reason given)"},
		{name: "Partial(MaxInt, nil)", err: func() error { return dispatcher.Partial(math.MaxInt, nil) },
			delivered: 3, attempts: 1},
		{name: "nil user error", err: func() error { return nilUser },
			attempts: 2, reason: "gave up after 2 attempts: processor: the dispatcher returned an error that panics when read (*processor.userError): runtime error: invalid memory address or nil pointer dereference"},
		{name: "Permanent(nil user error)", err: func() error { return dispatcher.Permanent(nilUser) },
			attempts: 2, reason: "gave up after 2 attempts: processor: the dispatcher returned an error that panics when read (*dispatcher.PermanentError): runtime error: invalid memory address or nil pointer dereference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			var attempts []int
			d := dispatcher.Func[tev](func(_ context.Context, b *dispatcher.Batch[tev]) error {
				attempts = append(attempts, len(b.Events))
				return tc.err()
			})
			path := walPath(t)
			p := openP(t, path, d, quiet(WithBatchSize(3), WithMaxRetries(1), WithRetryDelay(time.Millisecond, time.Millisecond))...)
			enqueueN(t, p, 0, 3)
			require.NoError(t, p.Flush(context.Background()))
			require.NoError(t, p.Stop(context.Background()))
			require.Len(t, attempts, tc.attempts, "events per attempt: %v", attempts)
			st := p.Stats()
			require.EqualValues(t, tc.delivered, st.Delivered)
			require.Zero(t, st.PendingEvents+st.InFlightEvents)
			inspect(t, path, func(s *wal.Stream) {
				dead := deadLetters(t, s)
				require.Len(t, dead, 3-tc.delivered)
				for _, dl := range dead {
					require.Equal(t, tc.reason, dl.Reason)
				}
			})
		})
	}
}
