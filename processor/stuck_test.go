package processor

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// stuckSink is a dispatcher that ignores its context: the first call
// blocks until release is closed, then reports success; later calls
// succeed at once. entered is closed when the first call begins.
type stuckSink struct {
	*recSink
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newStuckSink() *stuckSink {
	s := &stuckSink{entered: make(chan struct{}), release: make(chan struct{})}
	first := true
	var mu sync.Mutex
	s.recSink = newRecSink(func(context.Context, attempt) error {
		mu.Lock()
		f := first
		first = false
		mu.Unlock()
		if f {
			close(s.entered)
			<-s.release
		}
		return nil
	})
	return s
}

// free releases the blocked call (once; also on cleanup).
func (s *stuckSink) free() { s.once.Do(func() { close(s.release) }) }

// lineHandler signals got when a record with message msg is logged.
type lineHandler struct {
	msg  string
	once sync.Once
	got  chan struct{}
}

func (h *lineHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *lineHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *lineHandler) WithGroup(string) slog.Handler            { return h }
func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.got) })
	}
	return nil
}

const lateDispatchMsg = "walbatch: a dispatch that was still running when Stop returned has ended; its outcome is not recorded, the batch goes out again after the next open"

// stopReturns runs Stop; if it has not returned after 10s it releases the
// stuck dispatcher (so the test can end) and fails.
func stopReturns(t *testing.T, p *Processor[tev], s *stuckSink, ctx context.Context) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Stop(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		s.free()
		<-done
		t.Fatal("Stop waited for a dispatcher that ignores its context")
		return nil
	}
}

// A dispatcher that ignores its context does not hold Stop: Stop returns
// with ErrStuck naming the batch, later Stops return the same, and the
// file is closed and unlocked, so a new processor opens it at once and
// dispatches the batch again with the same ID while the old dispatch is
// still blocked. When the old dispatch returns, its outcome is not
// recorded (the file it would write to is closed) and its goroutine ends
// (noLeaks).
func TestStopReturnsPastAStuckDispatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		opts   []Option
		ctxErr error // in Stop's error: ctx ended the drain
	}{
		{"stop timeout", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }, []Option{WithStopTimeout(50 * time.Millisecond)}, nil},
		{"ctx deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, []Option{WithStopTimeout(time.Hour)}, context.DeadlineExceeded},
		{"ctx canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, []Option{WithStopTimeout(time.Hour)}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			path := walPath(t)
			s := newStuckSink()
			t.Cleanup(s.free)
			late := &lineHandler{msg: lateDispatchMsg, got: make(chan struct{})}
			p := openP(t, path, s, append(quiet(WithBatchSize(5), WithLogger(slog.New(late))), tc.opts...)...)
			enqueueN(t, p, 0, 5)
			<-s.entered

			ctx, cancel := tc.ctx()
			defer cancel()
			err := stopReturns(t, p, s, ctx)
			require.ErrorIs(t, err, ErrStuck)
			var u *UndeliveredError
			require.ErrorAs(t, err, &u, "the stuck batch is left in flight")
			require.Equal(t, Left{InFlightEvents: 5, InFlightBytes: u.InFlightBytes}, u.Left)
			if tc.ctxErr != nil {
				require.ErrorIs(t, err, tc.ctxErr)
			} else {
				require.NotErrorIs(t, err, context.DeadlineExceeded)
				require.NotErrorIs(t, err, context.Canceled)
			}
			require.Same(t, err, stopReturns(t, p, s, context.Background()), "a later Stop returns the first one's result")
			require.ErrorIs(t, p.Enqueue(context.Background(), tev{N: 9}), ErrStopped)

			// The file is closed and unlocked: the next open recovers the
			// batch, in flight, and delivers it under the same ID.
			var inflight []wal.Batch
			inspect(t, path, func(st *wal.Stream) {
				var err error
				inflight, err = st.Batches()
				require.NoError(t, err)
			})
			require.Len(t, inflight, 1)
			require.ErrorContains(t, err, inflight[0].ID, "the error names the stuck batch")
			require.Zero(t, inflight[0].Attempts, "the stuck attempt is not counted")

			ok := newRecSink(nil)
			p2 := openP(t, path, ok, quiet()...)
			ok.waitDelivered(t, 5)
			require.Equal(t, inflight[0].ID, ok.all()[0].BatchID)
			require.NoError(t, p2.Stop(context.Background()))

			// The stuck call returns now; its outcome goes nowhere.
			s.free()
			<-late.got
			require.Len(t, s.all(), 1)
			inspect(t, path, func(st *wal.Stream) {
				stats := st.Stats()
				require.Zero(t, stats.InFlightEvents)
				require.Zero(t, stats.PendingEvents)
				require.EqualValues(t, 5, stats.CompletedEvents)
			})
		})
	}
}

// With New the log stays open after Stop: a stuck dispatch that returns
// later (here with success) still records nothing, and the batch goes out
// again from the next processor on the stream.
func TestStuckDispatchOnSharedLog(t *testing.T) {
	noLeaks(t)
	l, err := wal.Open(walPath(t), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	s := newStuckSink()
	t.Cleanup(s.free)
	late := &lineHandler{msg: lateDispatchMsg, got: make(chan struct{})}
	p, err := New[tev](l, s, quiet(WithBatchSize(3), WithStopTimeout(20*time.Millisecond), WithLogger(slog.New(late)))...)
	require.NoError(t, err)
	enqueueN(t, p, 0, 3)
	<-s.entered
	err = stopReturns(t, p, s, context.Background())
	require.ErrorIs(t, err, ErrStuck)
	var u *UndeliveredError
	require.ErrorAs(t, err, &u)
	require.Equal(t, leftOfLog(t, l, DefaultStream), u.Streams)
	s.free()
	<-late.got // the dispatch returned success, after Stop
	st, err := l.Stream(DefaultStream)
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Stats().InFlightEvents, "a late outcome was recorded")

	ok := newRecSink(nil)
	p2, err := New[tev](l, ok, quiet()...)
	require.NoError(t, err)
	ok.waitDelivered(t, 3)
	require.NoError(t, p2.Stop(context.Background()))
	require.Zero(t, st.Stats().InFlightEvents)
}

// The Manager's Stop returns too, with the stream's ErrStuck, and closes
// the file.
func TestManagerStopPastAStuckDispatch(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	factory := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error {
			entered <- struct{}{}
			<-release
			return nil
		}), quiet(WithBatchSize(1), WithStopTimeout(20*time.Millisecond)), nil
	}
	m, err := OpenManager[int](path, factory, time.Hour, nil)
	require.NoError(t, err)
	require.NoError(t, m.Enqueue(context.Background(), "s", 1))
	<-entered
	done := make(chan error, 1)
	go func() { done <- m.Stop(context.Background()) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrStuck)
		require.ErrorContains(t, err, `stream "s"`)
		var u *UndeliveredError
		require.ErrorAs(t, err, &u)
		require.Equal(t, map[string]Left{"s": {InFlightEvents: 1, InFlightBytes: u.InFlightBytes}}, u.Streams)
	case <-time.After(10 * time.Second):
		close(release)
		<-done
		t.Fatal("Manager.Stop waited for a dispatcher that ignores its context")
	}
	l, err := wal.Open(path, nil) // unlocked
	require.NoError(t, err)
	require.NoError(t, l.Close())
	close(release)
}

// A listener that never returns does not hold Stop either: Stop returns
// ErrStuck saying so, and the notification goroutine ends once the
// listener returns.
func TestStopReturnsPastAStuckListener(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	stuck := func(Notification) {
		once.Do(func() { close(entered) })
		<-release
	}
	p := openP(t, walPath(t), newRecSink(nil), quiet(WithBatchSize(1), WithStopTimeout(20*time.Millisecond),
		WithListener(BatchDispatched, stuck))...)
	enqueueN(t, p, 0, 3)
	<-entered
	done := make(chan error, 1)
	go func() { done <- p.Stop(context.Background()) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrStuck)
		require.ErrorContains(t, err, "listener")
	case <-time.After(10 * time.Second):
		close(release)
		<-done
		t.Fatal("Stop waited for a listener that never returns")
	}
	close(release)
}
