package processor

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// downFactory gives every stream a dispatcher that always fails, retried
// soon.
func downFactory(string) (dispatcher.Dispatcher[int], []Option, error) {
	d := dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error {
		return errors.New("sink down")
	})
	return d, quiet(WithBatchSize(5), WithMaxRetries(1_000_000), WithRetryDelay(time.Millisecond, 10*time.Millisecond),
		WithStopTimeout(50*time.Millisecond)), nil
}

// Drain covers every stream of the file, a backlog a previous run left on
// a stream nobody enqueues to now included, and returns when every stream
// is empty; Stop then has nothing left to report.
func TestManagerDrainEmptiesEveryStream(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "m.wal")
	ctx := context.Background()

	m, err := OpenManager[int](path, downFactory, time.Hour, nil)
	require.NoError(t, err)
	require.NoError(t, m.EnqueueMany(ctx, "old", []int{1, 2, 3}))
	require.ErrorIs(t, m.Stop(ctx), ErrUndelivered)

	rec := &streamRecorder{got: map[string][]int{}}
	m, err = OpenManager[int](path, rec.factory, time.Hour, nil)
	require.NoError(t, err)
	require.NoError(t, m.Enqueue(ctx, "new", 4))

	require.NoError(t, m.Drain(ctx))
	rec.mu.Lock()
	require.Equal(t, []int{1, 2, 3}, rec.got["old"])
	require.Equal(t, []int{4}, rec.got["new"])
	rec.mu.Unlock()
	for name, st := range m.Stats() {
		require.Zero(t, st.PendingEvents+st.InFlightEvents, "stream %s", name)
	}
	require.NoError(t, m.Stop(ctx), "nothing left for the next start")
	require.ErrorIs(t, m.Drain(ctx), ErrStopped)
}

// When ctx ends before the streams are empty, Drain returns ctx's error
// naming the stream, and the events stay queued.
func TestManagerDrainEndsWithCtx(t *testing.T) {
	noLeaks(t)
	path := filepath.Join(t.TempDir(), "m.wal")
	m, err := OpenManager[int](path, downFactory, time.Hour, nil)
	require.NoError(t, err)
	require.NoError(t, m.EnqueueMany(context.Background(), "s", []int{1, 2}))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = m.Drain(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, `stream "s"`)
	var left *UndeliveredError
	require.ErrorAs(t, m.Stop(context.Background()), &left)
	require.EqualValues(t, 2, left.Events())
}
