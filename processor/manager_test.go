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

// recorder is a dispatcher per stream that records what each stream got.
type streamRecorder struct {
	mu  sync.Mutex
	got map[string][]int
}

func (r *streamRecorder) factory(stream string) (dispatcher.Dispatcher[int], []Option, error) {
	d := dispatcher.Func[int](func(ctx context.Context, b *dispatcher.Batch[int]) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range b.Events {
			r.got[b.Stream] = append(r.got[b.Stream], e.Value)
		}
		return nil
	})
	return d, []Option{WithBatchSize(5), WithInactiveTimeout(20 * time.Millisecond)}, nil
}

func (r *streamRecorder) count(stream string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[stream])
}

func TestManagerStreamsAreSeparateAndReleasedWhenIdle(t *testing.T) {
	rec := &streamRecorder{got: map[string][]int{}}
	path := filepath.Join(t.TempDir(), "m.db")
	m, err := OpenManager[int](path, rec.factory, 50*time.Millisecond, nil)
	require.NoError(t, err)
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		require.NoError(t, m.Enqueue(ctx, fmt.Sprintf("s%d", i%3), i))
	}
	require.Eventually(t, func() bool {
		return rec.count("s0") == 4 && rec.count("s1") == 4 && rec.count("s2") == 4
	}, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(m.Streams()) == 0 }, 5*time.Second, 10*time.Millisecond,
		"idle streams with nothing pending are released")

	// Using a released name again works at once, with counts intact.
	require.NoError(t, m.Enqueue(ctx, "s1", 100))
	require.Eventually(t, func() bool { return rec.count("s1") == 5 }, 5*time.Second, 5*time.Millisecond)
	st := m.log.Streams()
	require.Equal(t, []string{"s0", "s1", "s2"}, st)
	s1, err := m.log.Stream("s1")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return s1.Stats().CompletedEvents == 5 }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, s1.Stats().PendingEvents)
	require.NoError(t, m.Stop(ctx))
	require.NoError(t, m.Stop(ctx), "Stop is idempotent")
	require.ErrorIs(t, m.Enqueue(ctx, "s1", 1), ErrStopped)
}

func TestManagerRecoversStreamsWithWorkLeft(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	// A first run whose sink is down leaves events behind.
	down := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error {
			return fmt.Errorf("sink down")
		}), []Option{WithStartOnOpen(false)}, nil
	}
	m, err := OpenManager[int](path, down, time.Hour, nil)
	require.NoError(t, err)
	require.NoError(t, m.Enqueue(context.Background(), "a", 1))
	require.NoError(t, m.Enqueue(context.Background(), "b", 2))
	u := requireLeft(t, m.Stop(context.Background()), leftIn(t, path, "a", "b"))
	require.EqualValues(t, 2, u.PendingEvents, "the sum over the streams")
	require.EqualValues(t, 1, u.Streams["a"].PendingEvents)
	require.EqualValues(t, 1, u.Streams["b"].PendingEvents)

	rec := &streamRecorder{got: map[string][]int{}}
	m, err = OpenManager[int](path, rec.factory, time.Hour, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, m.Streams(), "streams with work left start at open")
	require.Eventually(t, func() bool { return rec.count("a") == 1 && rec.count("b") == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, m.Stop(context.Background()))
}

// A stream whose factory (or recovery) is slow holds up only its own
// callers: other streams are created and used meanwhile, and concurrent
// callers of the slow stream share one creation. A factory error reaches
// the caller and leaves nothing behind.
func TestManagerCreatesStreamsOutsideItsLock(t *testing.T) {
	noLeaks(t)
	rec := &streamRecorder{got: map[string][]int{}}
	gate := make(chan struct{})
	var mu sync.Mutex
	calls := map[string]int{}
	failOnce := true
	factory := func(stream string) (dispatcher.Dispatcher[int], []Option, error) {
		mu.Lock()
		calls[stream]++
		fail := stream == "bad" && failOnce
		if fail {
			failOnce = false
		}
		mu.Unlock()
		if stream == "slow" {
			<-gate
		}
		if fail {
			return nil, nil, fmt.Errorf("no config for %q", stream)
		}
		return rec.factory(stream)
	}
	m, err := OpenManager[int](filepath.Join(t.TempDir(), "m.db"), factory, time.Hour, nil)
	require.NoError(t, err)
	ctx := context.Background()

	slowDone := make(chan error, 2)
	for i := range 2 {
		go func() { slowDone <- m.Enqueue(ctx, "slow", i) }()
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return calls["slow"] == 1 },
		5*time.Second, time.Millisecond)

	fastDone := make(chan error, 1)
	go func() { fastDone <- m.Enqueue(ctx, "fast", 7) }()
	select {
	case err := <-fastDone:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		close(gate)
		t.Fatal("Enqueue on another stream waited for the slow stream's factory")
	}
	require.Equal(t, []string{"fast"}, m.Streams(), "a stream being created is not listed yet")
	require.NotContains(t, m.Stats(), "slow")

	_, err = m.acquire("bad")
	require.ErrorContains(t, err, `no config for "bad"`)
	require.NoError(t, m.Enqueue(ctx, "bad", 1), "a failed creation leaves nothing behind")

	close(gate)
	for range 2 {
		require.NoError(t, <-slowDone)
	}
	mu.Lock()
	require.Equal(t, 1, calls["slow"], "concurrent callers share one creation")
	mu.Unlock()
	require.NoError(t, m.Flush(ctx))
	require.Equal(t, 2, rec.count("slow"))
	require.NoError(t, m.Stop(ctx))
}

// managerCreatingAStream returns a manager whose factory for stream "s"
// is running and blocked until gate is closed, and the result of the
// Enqueue that started it.
func managerCreatingAStream(t *testing.T) (m *Manager[int], gate chan struct{}, done chan error) {
	t.Helper()
	rec := &streamRecorder{got: map[string][]int{}}
	gate, entered := make(chan struct{}), make(chan struct{})
	factory := func(stream string) (dispatcher.Dispatcher[int], []Option, error) {
		close(entered)
		<-gate
		return rec.factory(stream)
	}
	m, err := OpenManager[int](filepath.Join(t.TempDir(), "m.db"), factory, time.Hour, nil)
	require.NoError(t, err)
	done = make(chan error, 1)
	go func() { done <- m.Enqueue(context.Background(), "s", 1) }()
	<-entered
	return m, gate, done
}

// Stop while a stream is being created waits for the creation, which then
// stops the new processor and reports ErrStopped; nothing is left running.
func TestManagerStopDuringCreation(t *testing.T) {
	noLeaks(t)
	m, gate, done := managerCreatingAStream(t)
	stopped := make(chan error, 1)
	go func() { stopped <- m.Stop(context.Background()) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a processor was being created")
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	require.ErrorIs(t, <-done, ErrStopped)
	require.NoError(t, <-stopped)
}

// Stop's ctx bounds its wait for a factory that does not return: Stop
// returns ctx's error, and the creation, once it ends, stops its own
// processor.
func TestManagerStopDoesNotWaitPastCtxForACreation(t *testing.T) {
	noLeaks(t)
	m, gate, done := managerCreatingAStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- m.Stop(ctx) }()
	select {
	case err := <-stopped:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		close(gate)
		t.Fatal("Stop waited for the factory past its ctx")
	}
	close(gate)
	require.Error(t, <-done) // ErrStopped, or the closed file's error
}
