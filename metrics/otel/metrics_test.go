package walotel

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/wal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet(opts ...processor.Option) []processor.Option {
	return append([]processor.Option{processor.WithMaxAge(time.Hour), processor.WithInactiveTimeout(time.Hour),
		processor.WithRetryDelay(time.Millisecond, time.Millisecond), processor.WithJitter(0)}, opts...)
}

// point is one data point: its value (a histogram's count) and unit.
type point struct {
	v    float64
	unit string
	sum  float64 // histograms
}

// collect reads every data point as name{attrs} -> point.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]point{}
	key := func(name string, set attribute.Set) string {
		k := name
		for _, kv := range set.ToSlice() {
			k += "," + string(kv.Key) + "=" + kv.Value.String()
		}
		return k
	}
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = point{v: float64(p.Value), unit: m.Unit}
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = point{v: p.Value, unit: m.Unit}
				}
			case metricdata.Sum[int64]:
				require.True(t, d.IsMonotonic, m.Name)
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = point{v: float64(p.Value), unit: m.Unit}
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = point{v: p.Value, unit: m.Unit}
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = point{v: float64(p.Count), unit: m.Unit, sum: float64(p.Sum)}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = point{v: float64(p.Count), unit: m.Unit, sum: p.Sum}
				}
			default:
				t.Fatalf("%s: unexpected %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// A processor driven through every outcome reports exactly what happened.
func TestProcessorMetricsExactValues(t *testing.T) {
	l, err := wal.Open(filepath.Join(t.TempDir(), "m.wal"), nil)
	require.NoError(t, err)
	defer l.Close()
	d := dispatcher.Func[int](func(ctx context.Context, b *dispatcher.Batch[int]) error {
		switch b.Events[0].Value {
		case 3:
			if b.Attempt == 1 {
				return errors.New("sink down")
			}
		case 5:
			return dispatcher.Permanent(errors.New("rejected"))
		case 7:
			if b.Attempt == 1 {
				panic("boom")
			}
		case 9:
			if b.Attempt == 1 {
				<-ctx.Done()
				return ctx.Err()
			}
		case 11:
			return dispatcher.Partial(1, errors.New("second one failed"))
		case 13:
			return dispatcher.PerEvent([]error{nil, dispatcher.Permanent(errors.New("too big"))}) // one delivered, one dead
		}
		return nil
	})
	p, err := processor.New[int](l, d, quiet(processor.WithStream("orders"), processor.WithBatchSize(2),
		processor.WithPendingLimits(2, 0), processor.WithStartOnOpen(false),
		processor.WithDispatchTimeout(50*time.Millisecond))...)
	require.NoError(t, err)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
	m, err := NewProcessor(mp, p)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()

	ctx := context.Background()
	require.NoError(t, p.EnqueueMany(ctx, []int{1, 2}))
	require.ErrorIs(t, p.TryEnqueue(99), processor.ErrFull)
	require.NoError(t, p.Start())
	require.NoError(t, p.Flush(ctx))
	for first := 3; first <= 13; first += 2 {
		require.NoError(t, p.EnqueueMany(ctx, []int{first, first + 1}))
		require.NoError(t, p.Flush(ctx))
	}
	require.NoError(t, p.Stop(ctx))

	got := collect(t, reader)
	s := ",stream=orders"
	for name, want := range map[string]point{
		"walbatch.events.pending" + s:       {0, "{event}", 0},
		"walbatch.events.inflight" + s:      {0, "{event}", 0},
		"walbatch.events.dead" + s:          {3, "{event}", 0},
		"walbatch.dead.size" + s:            {3, "By", 0},
		"walbatch.capacity.events" + s:      {2, "{event}", 0},
		"walbatch.events.delivered" + s:     {11, "{event}", 0},
		"walbatch.attempts.retried" + s:     {4, "{attempt}", 0},
		"walbatch.events.dead_lettered" + s: {3, "{event}", 0},
		"walbatch.enqueues.refused" + s:     {1, "{call}", 0},
		"walbatch.oldest_pending.age" + s:   {0, "s", 0},
		"walbatch.recovery.pending" + s:     {0, "{event}", 0},
		"walbatch.streams.omitted":          {0, "{stream}", 0},
		// Every commit of the file: the 7 that appended the 14 events, and
		// those of the stream's creation and of the batch transitions (seal,
		// completion, retry, dead letter).
		"walbatch.wal.commits":                             {27, "{commit}", 0},
		"walbatch.wal.committed_events":                    {14, "{event}", 0},
		"walbatch.batch.events" + s:                        {11, "{event}", 21},
		"walbatch.batches" + s + ",trigger=batch_size":     {7, "{batch}", 0},
		"walbatch.dispatch.attempts,outcome=success" + s:   {5, "{attempt}", 0},
		"walbatch.dispatch.attempts,outcome=partial" + s:   {1, "{attempt}", 0},
		"walbatch.dispatch.attempts,outcome=per_event" + s: {1, "{attempt}", 0},
		"walbatch.dispatch.attempts,outcome=retryable" + s: {1, "{attempt}", 0},
		"walbatch.dispatch.attempts,outcome=permanent" + s: {1, "{attempt}", 0},
		"walbatch.dispatch.attempts,outcome=panic" + s:     {1, "{attempt}", 0},
		"walbatch.dispatch.attempts,outcome=timeout" + s:   {1, "{attempt}", 0},
	} {
		require.Contains(t, got, name)
		require.Equal(t, want, got[name], name)
	}
	require.Positive(t, got["walbatch.file.size"].v)
	require.Equal(t, "By", got["walbatch.file.size"].unit)
	require.Contains(t, got, "walbatch.file.free")
	require.Positive(t, got["walbatch.wal.commit.duration"].v)
	// The writer's count of transitions: 7 seals at least, and not the
	// commits' count (some transitions share a commit).
	cs := l.CommitStats()
	require.Equal(t, point{float64(cs.Transitions), "{transition}", 0}, got["walbatch.wal.transitions"])
	require.GreaterOrEqual(t, cs.Transitions, int64(7))
	require.EqualValues(t, 11, got["walbatch.dispatch.duration"+s].v)
	require.Equal(t, "s", got["walbatch.dispatch.duration"+s].unit)
	require.NotContains(t, got, "walbatch.capacity.size"+s, "unlimited: not reported")
}

// A Manager's instruments report a stream with a backlog and no
// processor, and a released stream's totals after it is created again.
func TestManagerMetricsCoverIdleAndReleasedStreams(t *testing.T) {
	l, err := wal.Open(filepath.Join(t.TempDir(), "m.wal"), nil)
	require.NoError(t, err)
	defer l.Close()
	released := make(chan string, 4)
	factory := func(string) (dispatcher.Dispatcher[int], []processor.Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return nil }), quiet(), nil
	}
	mgr, err := processor.NewManager[int](l, factory, 20*time.Millisecond)
	require.NoError(t, err)
	defer func() { require.NoError(t, mgr.Stop(context.Background())) }()
	mgr.Subscribe(processor.StreamReleased, func(n processor.Notification) { released <- n.Stream })
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, mp.Shutdown(context.Background())) }()
	m, err := NewManager(mp, mgr)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()

	idle, err := l.Stream("idle")
	require.NoError(t, err)
	_, err = idle.Append("", []byte{1})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, mgr.EnqueueMany(ctx, "a", []int{1, 2, 3}))
	require.NoError(t, mgr.Flush(ctx))
	require.Equal(t, "a", <-released)
	require.NoError(t, mgr.Enqueue(ctx, "a", 4))
	require.NoError(t, mgr.Flush(ctx))

	got := collect(t, reader)
	require.EqualValues(t, 4, got["walbatch.events.delivered,stream=a"].v)
	require.EqualValues(t, 0, got["walbatch.events.pending,stream=a"].v)
	require.Contains(t, got, "walbatch.events.delivered,stream=idle")
	require.EqualValues(t, 1, got["walbatch.events.pending,stream=idle"].v)
	require.Positive(t, got["walbatch.oldest_pending.age,stream=idle"].v)

	capped := sdkmetric.NewManualReader()
	mp2 := sdkmetric.NewMeterProvider(sdkmetric.WithReader(capped))
	defer func() { require.NoError(t, mp2.Shutdown(context.Background())) }()
	lm, err := NewLog(mp2, l, WithMaxStreams(1), WithFileMetrics(false))
	require.NoError(t, err)
	defer func() { require.NoError(t, lm.Close()) }()
	got = collect(t, capped)
	require.Contains(t, got, "walbatch.events.pending,stream=idle")
	require.NotContains(t, got, "walbatch.events.pending,stream=a")
	require.EqualValues(t, 1, got["walbatch.streams.omitted"].v)
	require.NotContains(t, got, "walbatch.file.size")
}
