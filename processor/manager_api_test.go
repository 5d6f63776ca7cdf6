package processor

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// The enqueue family on the manager reaches the named stream, and an
// asynchronous event keeps its stream in use until its callback ran.
func TestManagerEnqueueFamily(t *testing.T) {
	noLeaks(t)
	rec := &streamRecorder{got: map[string][]int{}}
	m, err := OpenManager[int](filepath.Join(t.TempDir(), "m.wal"), rec.factory, time.Hour, nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, m.EnqueueMany(ctx, "a", []int{1, 2, 3}))
	require.NoError(t, m.TryEnqueue("b", 4))
	done := make(chan error, 2)
	// c before b: the streams share one log, whose appends commit in the
	// order they were made, so b's callback says c's event is committed
	// too (the other way round, Flush could come before c's commit).
	require.NoError(t, m.EnqueueAsync("c", 6, nil), "a nil callback is allowed")
	require.NoError(t, m.EnqueueAsync("b", 5, func(err error) { done <- err }))
	require.NoError(t, <-done)
	require.NoError(t, m.Flush(ctx))
	rec.mu.Lock()
	require.Equal(t, []int{1, 2, 3}, rec.got["a"])
	require.Equal(t, []int{4, 5}, rec.got["b"])
	require.Equal(t, []int{6}, rec.got["c"])
	rec.mu.Unlock()
	m.mu.Lock()
	for name, e := range m.procs {
		require.Zero(t, e.users, "stream %s still counted in use", name)
	}
	m.mu.Unlock()
	require.NoError(t, m.Stop(ctx))
	require.ErrorIs(t, m.EnqueueAsync("b", 7, nil), ErrStopped)
	require.ErrorIs(t, m.TryEnqueue("b", 7), ErrStopped)
	require.ErrorIs(t, m.EnqueueMany(ctx, "b", []int{7}), ErrStopped)
}

// Listeners subscribed once hear every stream, those created later
// included, and learn when an idle stream is released; options given to
// OpenManager apply to every stream.
func TestManagerListenersAndSharedOptions(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	var seen []string
	shared := func(n Notification) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, "shared:"+n.Kind.String()+":"+n.Stream)
	}
	sent := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return nil }), nil, nil
	}
	m, err := OpenManager[int](filepath.Join(t.TempDir(), "m.wal"), sent, 30*time.Millisecond, nil,
		WithBatchSize(2), WithListener(BatchDispatched, shared))
	require.NoError(t, err)
	var got sync.Map
	id := m.Subscribe(BatchDispatched, func(n Notification) { got.Store("dispatched:"+n.Stream, true) })
	m.Subscribe(StreamReleased, func(n Notification) { got.Store("released:"+n.Stream, true) })
	m.Subscribe(Recovered, func(n Notification) { got.Store("recovered:"+n.Stream, n.Recovery != nil) })
	require.Zero(t, m.Subscribe(Flushed, nil))
	ctx := context.Background()
	require.NoError(t, m.EnqueueMany(ctx, "x", []int{1, 2})) // a full batch of 2: the shared batch size
	require.NoError(t, m.EnqueueMany(ctx, "y", []int{3, 4}))
	for _, k := range []string{"dispatched:x", "dispatched:y", "released:x", "released:y", "recovered:x", "recovered:y"} {
		require.Eventually(t, func() bool { v, ok := got.Load(k); return ok && v == true }, 10*time.Second, 5*time.Millisecond, k)
	}
	mu.Lock()
	require.Contains(t, seen, "shared:batch_dispatched:x")
	require.Contains(t, seen, "shared:batch_dispatched:y")
	mu.Unlock()

	require.True(t, m.Unsubscribe(id))
	require.False(t, m.Unsubscribe(id))
	got.Delete("dispatched:x")
	require.NoError(t, m.EnqueueMany(ctx, "x", []int{5, 6}))
	require.NoError(t, m.Flush(ctx))
	require.NoError(t, m.Stop(ctx))
	_, ok := got.Load("dispatched:x")
	require.False(t, ok, "an unsubscribed listener is not called")
}

func TestManagerRefusesWithStreamAmongItsOptions(t *testing.T) {
	noLeaks(t)
	f := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return nil }), nil, nil
	}
	_, err := OpenManager[int](filepath.Join(t.TempDir(), "m.wal"), f, 0, nil, WithStream("x"))
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = OpenManager[int](filepath.Join(t.TempDir(), "m.wal"), f, 0, nil, WithBatchSize(-1))
	require.ErrorIs(t, err, ErrInvalidOption)
}

// Each stream's recovery report is kept: the streams with work left are
// recovered at open, the others when first used.
func TestManagerRecoveryReports(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "m.wal")
	down := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return fmt.Errorf("down") }),
			[]Option{WithStartOnOpen(false)}, nil
	}
	m, err := OpenManager[int](path, down, time.Hour, nil)
	require.NoError(t, err)
	require.NoError(t, m.EnqueueMany(context.Background(), "left", []int{1, 2, 3}))
	u := requireLeft(t, m.Stop(context.Background()), leftIn(t, path, "left"))
	require.EqualValues(t, 3, u.Streams["left"].PendingEvents)

	m, err = OpenManager[int](path, down, time.Hour, nil)
	require.NoError(t, err)
	r := m.Recovery()
	require.Contains(t, r, "left")
	require.EqualValues(t, 3, r["left"].PendingEvents)
	require.NotContains(t, r, "fresh")
	require.NoError(t, m.Enqueue(context.Background(), "fresh", 1))
	require.Contains(t, m.Recovery(), "fresh")
	require.Same(t, m.log, m.Log())
	u = requireLeft(t, m.Stop(context.Background()), leftIn(t, path, "left", "fresh"))
	require.EqualValues(t, 3, u.Streams["left"].PendingEvents)
	require.EqualValues(t, 1, u.Streams["fresh"].PendingEvents)
	require.EqualValues(t, 4, u.Events())
}
