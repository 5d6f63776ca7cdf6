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
	require.NoError(t, m.Stop(context.Background()))

	rec := &streamRecorder{got: map[string][]int{}}
	m, err = OpenManager[int](path, rec.factory, time.Hour, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, m.Streams(), "streams with work left start at open")
	require.Eventually(t, func() bool { return rec.count("a") == 1 && rec.count("b") == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, m.Stop(context.Background()))
}
