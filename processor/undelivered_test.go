package processor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// Stop returns nil only when nothing is left; otherwise ErrUndelivered
// with the counts the next open finds, and a later Stop the same error.
func TestStopSaysWhatItLeft(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	path := walPath(t)
	p := openP(t, path, newRecSink(nil), quiet(WithBatchSize(5))...)
	enqueueN(t, p, 0, 7)
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Stop(ctx), "everything delivered: nil")

	sink := newRecSink(failing)
	p = openP(t, path, sink, quiet(WithBatchSize(5), WithMaxRetries(1000), WithRetryDelay(time.Hour, time.Hour),
		WithStopTimeout(100*time.Millisecond))...)
	enqueueN(t, p, 7, 7) // a batch of 5 fails and waits to retry; 2 pending behind it
	require.Eventually(t, func() bool { return sink.count() > 0 }, 10*time.Second, time.Millisecond)
	err := p.Stop(ctx)
	u := requireLeft(t, err, leftIn(t, path, DefaultStream))
	require.Equal(t, Left{PendingEvents: 2, PendingBytes: u.PendingBytes, InFlightEvents: 5, InFlightBytes: u.InFlightBytes}, u.Left)
	require.Positive(t, u.PendingBytes)
	require.Positive(t, u.InFlightBytes)
	require.EqualValues(t, 7, u.Events())
	require.Equal(t, u.PendingBytes+u.InFlightBytes, u.Bytes())
	require.Equal(t, fmt.Sprintf(`processor: stop left 7 events (%d bytes) in the WAL for the next start (stream "default": 2 pending, 5 in flight)`, u.Bytes()), err.Error())
	require.Same(t, err, p.Stop(ctx), "a later Stop returns the first one's result")
}

// Dead letters are a final outcome, not events left for the next start.
func TestStopDoesNotCountDeadLetters(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	p := openP(t, walPath(t), newRecSink(func(context.Context, attempt) error { return dispatcher.Permanent(errDown) }), quiet()...)
	enqueueN(t, p, 0, 3)
	require.NoError(t, p.Drain(ctx))
	require.EqualValues(t, 3, p.Stats().DeadEvents)
	require.NoError(t, p.Stop(ctx))
}

// ctx's error is in Stop's only when ctx ended the drain with events left.
func TestStopReportsCtxOnlyWhenItLeftEvents(t *testing.T) {
	noLeaks(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	p := openP(t, walPath(t), newRecSink(nil), quiet()...)
	enqueueN(t, p, 0, 3)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(canceled), "nothing left: a ctx that ended is no error")

	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"canceled", func() (context.Context, context.CancelFunc) { return canceled, func() {} }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			path := walPath(t)
			p := openP(t, path, newRecSink(failing), quiet(WithMaxRetries(1000), WithRetryDelay(time.Hour, time.Hour),
				WithStopTimeout(time.Hour))...)
			enqueueN(t, p, 0, 3)
			ctx, cancel := tc.ctx()
			defer cancel()
			err := p.Stop(ctx)
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, ErrUndelivered)
			var u *UndeliveredError
			require.ErrorAs(t, err, &u)
			require.Equal(t, leftIn(t, path, DefaultStream), u.Streams)
			require.EqualValues(t, 3, u.Events())
			require.Same(t, u, err, "nothing else")
			require.Equal(t, tc.want, u.Err)
			require.True(t, strings.HasSuffix(err.Error(), "): "+tc.want.Error()), err.Error())
			require.NoError(t, WithoutUndelivered(err), "ctx's error is part of the report")
		})
	}
}

// The rules of composition: what was left (with ctx's error when ctx
// ended the drain) first, then the others (ErrStuck, a failed close); a
// stream that left nothing is not named; no part, no error; and
// WithoutUndelivered keeps the others.
func TestStopErrorComposition(t *testing.T) {
	errClose := errors.New("close: input/output error")
	require.NoError(t, stopError(map[string]Left{"a": {}}, nil, nil))
	require.NoError(t, WithoutUndelivered(nil))

	err := stopError(map[string]Left{"a": {}}, nil, errClose)
	require.Same(t, errClose, err, "nothing left: the close error alone")
	require.Same(t, errClose, WithoutUndelivered(err))

	a := Left{PendingEvents: 2, PendingBytes: 20}
	b := Left{InFlightEvents: 3, InFlightBytes: 300}
	err = stopError(map[string]Left{"b": b, "a": a, "empty": {}}, context.DeadlineExceeded, errClose)
	require.ErrorIs(t, err, ErrUndelivered)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, errClose)
	var u *UndeliveredError
	require.ErrorAs(t, err, &u)
	require.Equal(t, map[string]Left{"a": a, "b": b}, u.Streams)
	require.Equal(t, Left{PendingEvents: 2, PendingBytes: 20, InFlightEvents: 3, InFlightBytes: 300}, u.Left)
	require.Equal(t, `processor: stop left 5 events (320 bytes) in the WAL for the next start (stream "a": 2 pending, 0 in flight; stream "b": 0 pending, 3 in flight): context deadline exceeded
close: input/output error`, err.Error())
	rest := WithoutUndelivered(err)
	require.ErrorIs(t, rest, errClose)
	require.NotErrorIs(t, rest, ErrUndelivered)
	require.NotErrorIs(t, rest, context.DeadlineExceeded, "ctx's error went with the report it explained")

	only := stopError(map[string]Left{"a": a}, nil, nil)
	require.IsType(t, &UndeliveredError{}, only, "alone, not joined")
	require.NoError(t, WithoutUndelivered(only))
	wrapped := fmt.Errorf("service: %w", only)
	require.Same(t, wrapped, WithoutUndelivered(wrapped), "only Stop's own error is taken apart")

	many := map[string]Left{}
	for i := range 12 {
		many[fmt.Sprintf("s%02d", i)] = Left{PendingEvents: 1, PendingBytes: 1}
	}
	msg := stopError(many, nil, nil).Error()
	require.Contains(t, msg, `stream "s09": 1 pending`)
	require.NotContains(t, msg, `"s10"`)
	require.True(t, strings.HasSuffix(msg, "; and 2 more streams)"), msg)
}

// A stuck dispatch's batch is left in flight, and counted: ErrStuck and
// ErrUndelivered together.
func TestStopCountsAStuckBatch(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	s := newStuckSink()
	t.Cleanup(s.free)
	p := openP(t, path, s, quiet(WithBatchSize(5), WithStopTimeout(20*time.Millisecond))...)
	enqueueN(t, p, 0, 5)
	<-s.entered
	err := stopReturns(t, p, s, context.Background())
	require.ErrorIs(t, err, ErrStuck)
	var u *UndeliveredError
	require.ErrorAs(t, err, &u)
	require.Equal(t, leftIn(t, path, DefaultStream), u.Streams)
	require.EqualValues(t, 5, u.InFlightEvents)
	require.Zero(t, u.PendingEvents)
	require.True(t, strings.HasPrefix(err.Error(), u.Error()+"\n"), "what was left comes first: %s", err)
	s.free()
}

// Manager.Stop: one UndeliveredError with the sum and each stream's
// counts (a stream that delivered everything is not there), ctx's error
// once however many streams it cut short, and a later Stop the same.
func TestManagerStopSaysWhatEachStreamLeft(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "m.wal")
	factory := func(stream string) (dispatcher.Dispatcher[int], []Option, error) {
		fn := func(context.Context, *dispatcher.Batch[int]) error { return nil }
		opts := quiet(WithBatchSize(2), WithMaxRetries(1000), WithRetryDelay(time.Hour, time.Hour), WithStopTimeout(time.Hour))
		switch stream {
		case "down":
			fn = func(context.Context, *dispatcher.Batch[int]) error { return errDown }
		case "off":
			opts = append(opts, WithStartOnOpen(false))
		}
		return dispatcher.Func[int](fn), opts, nil
	}
	m, err := OpenManager[int](path, factory, time.Hour, nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, m.EnqueueMany(ctx, "ok", []int{1, 2, 3}))
	require.NoError(t, m.EnqueueMany(ctx, "down", []int{1, 2, 3}))
	require.NoError(t, m.EnqueueMany(ctx, "off", []int{1, 2, 3, 4}))
	require.Eventually(t, func() bool { return m.Stats()["down"].RetriedSinceOpen > 0 }, 10*time.Second, time.Millisecond)

	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = m.Stop(sctx)
	require.ErrorIs(t, err, ErrUndelivered)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var u *UndeliveredError
	require.ErrorAs(t, err, &u)
	want := leftIn(t, path, "ok", "down", "off")
	require.Equal(t, want, u.Streams)
	require.NotContains(t, u.Streams, "ok", "delivered everything")
	require.EqualValues(t, 2, u.Streams["down"].InFlightEvents, "the failing batch")
	require.EqualValues(t, 1, u.Streams["down"].PendingEvents)
	require.EqualValues(t, 4, u.Streams["off"].PendingEvents, "never started")
	require.EqualValues(t, 7, u.Events())
	require.Equal(t, u.Streams["down"].add(u.Streams["off"]), u.Left)
	require.Same(t, u, err, "nothing else")
	require.Equal(t, context.DeadlineExceeded, u.Err, "ctx's error once, in the report")
	require.Contains(t, err.Error(), `(stream "down": 1 pending, 2 in flight; stream "off": 4 pending, 0 in flight)`)
	require.Same(t, err, m.Stop(ctx), "a later Stop returns the first one's result")
}

// With NewManager the log stays open: the counts are what it holds.
func TestNewManagerStopCountsOnTheOpenLog(t *testing.T) {
	noLeaks(t)
	l, err := wal.Open(walPath(t), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	factory := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return nil }), quiet(WithStartOnOpen(false)), nil
	}
	m, err := NewManager[int](l, factory, time.Hour)
	require.NoError(t, err)
	require.NoError(t, m.EnqueueMany(context.Background(), "a", []int{1, 2}))
	u := requireLeft(t, m.Stop(context.Background()), leftOfLog(t, l, "a"))
	require.EqualValues(t, 2, u.PendingEvents)
}
