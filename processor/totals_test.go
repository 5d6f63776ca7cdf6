package processor

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// A stream the manager released and created again keeps the totals that
// outlive a processor; only the per-processor counts start again.
func TestManagerStreamReleasedAndRecreatedKeepsTotals(t *testing.T) {
	noLeaks(t)
	released := make(chan string, 10)
	fail := true
	var mu sync.Mutex
	factory := func(stream string) (dispatcher.Dispatcher[int], []Option, error) {
		d := dispatcher.Func[int](func(ctx context.Context, b *dispatcher.Batch[int]) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				fail = false
				return errors.New("sink down")
			}
			return nil
		})
		return d, quiet(WithBatchSize(3), WithRetryDelay(time.Millisecond, time.Millisecond)), nil
	}
	m, err := OpenManager[int](filepath.Join(t.TempDir(), "m.db"), factory, 30*time.Millisecond, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Stop(context.Background())) }()
	m.Subscribe(StreamReleased, func(n Notification) { released <- n.Stream })
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, m.Enqueue(ctx, "a", i))
	}
	require.Equal(t, "a", <-released)
	st := m.Stats()["a"]
	require.EqualValues(t, 3, st.DeliveredTotal)
	require.EqualValues(t, 1, st.RetriedSinceOpen)
	require.Zero(t, st.Delivered, "no processor: no per-processor counts")

	require.NoError(t, m.Enqueue(ctx, "a", 3))
	require.NoError(t, m.Flush(ctx))
	st = m.Stats()["a"]
	require.EqualValues(t, 4, st.DeliveredTotal)
	require.EqualValues(t, 1, st.RetriedSinceOpen)
	require.EqualValues(t, 1, st.Delivered, "the new processor counts from its own open")
}

// Manager.Stats covers every stream of the file: one that no processor of
// this manager has opened, holding a backlog, and one released with dead
// letters.
func TestManagerStatsCoversStreamsWithoutProcessor(t *testing.T) {
	noLeaks(t)
	l, err := wal.Open(filepath.Join(t.TempDir(), "m.db"), nil)
	require.NoError(t, err)
	defer l.Close()
	released := make(chan string, 10)
	factory := func(stream string) (dispatcher.Dispatcher[int], []Option, error) {
		d := dispatcher.Func[int](func(ctx context.Context, b *dispatcher.Batch[int]) error {
			return dispatcher.Permanent(errors.New("rejected"))
		})
		return d, quiet(WithBatchSize(2)), nil
	}
	m, err := NewManager[int](l, factory, 30*time.Millisecond)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Stop(context.Background())) }()
	m.Subscribe(StreamReleased, func(n Notification) { released <- n.Stream })

	idle, err := l.Stream("idle")
	require.NoError(t, err)
	_, err = idle.Append("", []byte{0x01})
	require.NoError(t, err)

	ctx := context.Background()
	require.NoError(t, m.EnqueueMany(ctx, "dead", []int{1, 2}))
	require.Equal(t, "dead", <-released)

	all := m.Stats()
	require.Empty(t, m.Streams())
	require.Contains(t, all, "idle")
	require.EqualValues(t, 1, all["idle"].PendingEvents)
	require.EqualValues(t, 1, all["idle"].PendingBytes)
	require.Positive(t, all["idle"].OldestPendingAge)
	require.EqualValues(t, 2, all["dead"].DeadEvents)
	require.EqualValues(t, 2, all["dead"].DeadLetteredSinceOpen)
}

// DeliveredTotal is persisted: a processor opened again starts with it,
// while its own Delivered starts at 0.
func TestDeliveredTotalSurvivesRestart(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	sink := newRecSink(nil)
	p := openP(t, path, sink, quiet(WithBatchSize(2))...)
	ctx := context.Background()
	require.NoError(t, p.EnqueueMany(ctx, []tev{{N: 1}, {N: 2}, {N: 3}}))
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Stop(ctx))

	p = openP(t, path, sink, quiet(WithBatchSize(2))...)
	st := p.Stats()
	require.EqualValues(t, 3, st.DeliveredTotal)
	require.Zero(t, st.Delivered)
	require.Zero(t, st.RetriedSinceOpen, "in memory only: a new open starts at 0")
}

func TestRefusedCountsErrFull(t *testing.T) {
	noLeaks(t)
	p := openP(t, walPath(t), newRecSink(nil), quiet(WithStartOnOpen(false), WithBatchSize(1), WithPendingLimits(1, 0), WithFullPolicy(FailFast))...)
	require.NoError(t, p.TryEnqueue(tev{N: 1}))
	require.ErrorIs(t, p.TryEnqueue(tev{N: 2}), ErrFull)
	require.ErrorIs(t, p.Enqueue(context.Background(), tev{N: 3}), ErrFull)
	st := p.Stats()
	require.EqualValues(t, 2, st.RefusedSinceOpen)
	require.EqualValues(t, 1, st.MaxPendingEvents)
	require.Zero(t, st.MaxPendingBytes)
}

// BatchDispatched says what sealed the batch.
func TestBatchDispatchedCarriesTrigger(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	var got []Trigger
	p := openP(t, walPath(t), newRecSink(nil), quiet(WithBatchSize(2),
		WithListener(BatchDispatched, func(n Notification) {
			mu.Lock()
			got = append(got, n.Trigger)
			mu.Unlock()
		}))...)
	ctx := context.Background()
	require.NoError(t, p.EnqueueMany(ctx, []tev{{N: 1}, {N: 2}}))
	require.NoError(t, p.Flush(ctx)) // sealed by size before the flush
	require.NoError(t, p.Enqueue(ctx, tev{N: 3}))
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Enqueue(ctx, tev{N: 4}))
	require.NoError(t, p.Stop(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []Trigger{TriggerBatchSize, TriggerFlush, TriggerStop}, got)
}

func TestBatchDispatchedTriggerTimers(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		opts []Option
		want Trigger
	}{
		{[]Option{WithMaxAge(20 * time.Millisecond)}, TriggerMaxAge},
		{[]Option{WithInactiveTimeout(20 * time.Millisecond)}, TriggerInactivity},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			got := make(chan Trigger, 1)
			p := openP(t, walPath(t), newRecSink(nil), quiet(append(tc.opts,
				WithListener(BatchDispatched, func(n Notification) { got <- n.Trigger }))...)...)
			require.NoError(t, p.Enqueue(context.Background(), tev{N: 1}))
			require.Equal(t, tc.want, <-got)
		})
	}
}
