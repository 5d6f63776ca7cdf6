package walprom

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/wal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openLog(t *testing.T) *wal.Log {
	t.Helper()
	l, err := wal.Open(filepath.Join(t.TempDir(), "m.wal"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// quiet: only batch size, Flush and Stop seal batches.
func quiet(opts ...processor.Option) []processor.Option {
	return append([]processor.Option{processor.WithMaxAge(time.Hour), processor.WithInactiveTimeout(time.Hour),
		processor.WithRetryDelay(time.Millisecond, time.Millisecond), processor.WithJitter(0)}, opts...)
}

// A processor driven through every outcome, one batch of two events at a
// time, exports exactly what happened.
func TestProcessorCollectorExactValues(t *testing.T) {
	l := openLog(t)
	d := dispatcher.Func[int](func(ctx context.Context, b *dispatcher.Batch[int]) error {
		switch b.Events[0].Value {
		case 3:
			if b.Attempt == 1 {
				return errors.New("sink down") // retryable
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
				return ctx.Err() // timeout
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
	c := NewProcessorCollector(p)
	defer c.Close()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))

	ctx := context.Background()
	require.NoError(t, p.EnqueueMany(ctx, []int{1, 2}))
	require.ErrorIs(t, p.TryEnqueue(99), processor.ErrFull)
	require.NoError(t, p.Start())
	require.NoError(t, p.Flush(ctx))
	for first := 3; first <= 13; first += 2 {
		require.NoError(t, p.EnqueueMany(ctx, []int{first, first + 1}))
		require.NoError(t, p.Flush(ctx))
	}
	require.NoError(t, p.Stop(ctx)) // delivers the queued notifications

	want := `
# HELP walbatch_batch_events Events per dispatch attempt.
# TYPE walbatch_batch_events histogram
walbatch_batch_events_bucket{stream="orders",le="1"} 1
walbatch_batch_events_bucket{stream="orders",le="4"} 11
walbatch_batch_events_bucket{stream="orders",le="16"} 11
walbatch_batch_events_bucket{stream="orders",le="64"} 11
walbatch_batch_events_bucket{stream="orders",le="256"} 11
walbatch_batch_events_bucket{stream="orders",le="1024"} 11
walbatch_batch_events_bucket{stream="orders",le="4096"} 11
walbatch_batch_events_bucket{stream="orders",le="16384"} 11
walbatch_batch_events_bucket{stream="orders",le="+Inf"} 11
walbatch_batch_events_sum{stream="orders"} 21
walbatch_batch_events_count{stream="orders"} 11
# HELP walbatch_batches_total Batches dispatched for the first time, by what sealed them.
# TYPE walbatch_batches_total counter
walbatch_batches_total{stream="orders",trigger="batch_size"} 7
# HELP walbatch_dispatch_attempts_total Dispatch attempts by outcome.
# TYPE walbatch_dispatch_attempts_total counter
walbatch_dispatch_attempts_total{outcome="panic",stream="orders"} 1
walbatch_dispatch_attempts_total{outcome="partial",stream="orders"} 1
walbatch_dispatch_attempts_total{outcome="per_event",stream="orders"} 1
walbatch_dispatch_attempts_total{outcome="permanent",stream="orders"} 1
walbatch_dispatch_attempts_total{outcome="retryable",stream="orders"} 1
walbatch_dispatch_attempts_total{outcome="success",stream="orders"} 5
walbatch_dispatch_attempts_total{outcome="timeout",stream="orders"} 1
# HELP walbatch_capacity_events Pending limit in events (pending and in flight); absent when unlimited.
# TYPE walbatch_capacity_events gauge
walbatch_capacity_events{stream="orders"} 2
# HELP walbatch_dead_events Events in the dead-letter store now.
# TYPE walbatch_dead_events gauge
walbatch_dead_events{stream="orders"} 3
# HELP walbatch_dead_bytes Payload bytes of the dead letters.
# TYPE walbatch_dead_bytes gauge
walbatch_dead_bytes{stream="orders"} 3
# HELP walbatch_delivered_events_total Events completed since the stream was created (persisted in the file).
# TYPE walbatch_delivered_events_total counter
walbatch_delivered_events_total{stream="orders"} 11
# HELP walbatch_dead_lettered_events_total Events moved to dead letters, since the file was opened.
# TYPE walbatch_dead_lettered_events_total counter
walbatch_dead_lettered_events_total{stream="orders"} 3
# HELP walbatch_retried_attempts_total Failed attempts scheduled for a retry, since the file was opened.
# TYPE walbatch_retried_attempts_total counter
walbatch_retried_attempts_total{stream="orders"} 4
# HELP walbatch_refused_total Appends refused with ErrFull at the pending limits, since the file was opened.
# TYPE walbatch_refused_total counter
walbatch_refused_total{stream="orders"} 1
# HELP walbatch_pending_events Events acknowledged and not yet in a batch.
# TYPE walbatch_pending_events gauge
walbatch_pending_events{stream="orders"} 0
# HELP walbatch_inflight_events Events in in-flight batches.
# TYPE walbatch_inflight_events gauge
walbatch_inflight_events{stream="orders"} 0
# HELP walbatch_oldest_pending_age_seconds Age of the first event not completed (pending or in flight): the oldest, but for requeued dead letters, which count once they are first; 0 when none.
# TYPE walbatch_oldest_pending_age_seconds gauge
walbatch_oldest_pending_age_seconds{stream="orders"} 0
# HELP walbatch_wal_commits_total Commits of the WAL file (appends and batch transitions; one pair of fsyncs each under SyncAlways), since the file was opened.
# TYPE walbatch_wal_commits_total counter
walbatch_wal_commits_total 27
# HELP walbatch_wal_committed_events_total Events appended by the commits, since the file was opened.
# TYPE walbatch_wal_committed_events_total counter
walbatch_wal_committed_events_total 14
# HELP walbatch_recovery_pending_events Pending events found at open.
# TYPE walbatch_recovery_pending_events gauge
walbatch_recovery_pending_events{stream="orders"} 0
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"walbatch_batch_events", "walbatch_batches_total", "walbatch_dispatch_attempts_total",
		"walbatch_capacity_events", "walbatch_dead_events", "walbatch_dead_bytes", "walbatch_delivered_events_total",
		"walbatch_dead_lettered_events_total", "walbatch_retried_attempts_total", "walbatch_refused_total",
		"walbatch_pending_events", "walbatch_inflight_events", "walbatch_oldest_pending_age_seconds",
		"walbatch_wal_commits_total", "walbatch_wal_committed_events_total", "walbatch_recovery_pending_events"))

	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				got[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[mf.GetName()] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	require.Positive(t, got["walbatch_file_size_bytes"])
	// The writer's count of transitions: 7 seals at least, and not the
	// commits' count (some transitions share a commit).
	cs := l.CommitStats()
	require.Equal(t, float64(cs.Transitions), got["walbatch_wal_transitions_total"])
	require.GreaterOrEqual(t, cs.Transitions, int64(7))
	require.Contains(t, got, "walbatch_file_free_bytes")
	require.Positive(t, got["walbatch_wal_commit_seconds_total"])
	require.EqualValues(t, 11, got["walbatch_dispatch_duration_seconds"])
	require.NotContains(t, got, "walbatch_capacity_bytes", "unlimited: no series")
}

// A Manager's collector exports a stream with a backlog that has no
// processor, and a released stream keeps its totals when it is created
// again.
func TestManagerCollectorCoversIdleAndReleasedStreams(t *testing.T) {
	l := openLog(t)
	released := make(chan string, 4)
	factory := func(string) (dispatcher.Dispatcher[int], []processor.Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return nil }), quiet(), nil
	}
	m, err := processor.NewManager[int](l, factory, 20*time.Millisecond)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Stop(context.Background())) }()
	m.Subscribe(processor.StreamReleased, func(n processor.Notification) { released <- n.Stream })
	c := NewManagerCollector(m)
	defer c.Close()

	idle, err := l.Stream("idle")
	require.NoError(t, err)
	_, err = idle.Append("", []byte{1})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, m.EnqueueMany(ctx, "a", []int{1, 2, 3}))
	require.NoError(t, m.Flush(ctx))
	require.Equal(t, "a", <-released)
	require.NoError(t, m.Enqueue(ctx, "a", 4))
	require.NoError(t, m.Flush(ctx))

	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP walbatch_delivered_events_total Events completed since the stream was created (persisted in the file).
# TYPE walbatch_delivered_events_total counter
walbatch_delivered_events_total{stream="a"} 4
walbatch_delivered_events_total{stream="idle"} 0
# HELP walbatch_pending_events Events acknowledged and not yet in a batch.
# TYPE walbatch_pending_events gauge
walbatch_pending_events{stream="a"} 0
walbatch_pending_events{stream="idle"} 1
`), "walbatch_delivered_events_total", "walbatch_pending_events"))
	require.Equal(t, 1, testutil.CollectAndCount(c, "walbatch_wal_commits_total"))

	capped := NewLogCollector(l, WithMaxStreams(1))
	require.NoError(t, testutil.CollectAndCompare(capped, strings.NewReader(`
# HELP walbatch_pending_events Events acknowledged and not yet in a batch.
# TYPE walbatch_pending_events gauge
walbatch_pending_events{stream="idle"} 1
# HELP walbatch_streams_omitted Streams left out by WithMaxStreams.
# TYPE walbatch_streams_omitted gauge
walbatch_streams_omitted 1
`), "walbatch_pending_events", "walbatch_streams_omitted"))
}

func TestOutcome(t *testing.T) {
	n := func(err error, delivered int) processor.Notification {
		return processor.Notification{Kind: processor.BatchDispatched, Err: err, Delivered: delivered}
	}
	for _, tc := range []struct {
		n    processor.Notification
		want string
	}{
		{n(nil, 2), OutcomeSuccess},
		{n(errors.New("x"), 1), OutcomePartial},
		{n(dispatcher.PerEvent([]error{nil, errors.New("x")}), 1), OutcomePerEvent},
		{n(dispatcher.PerEvent([]error{dispatcher.Permanent(nil)}), 0), OutcomePerEvent},
		{n(fmt.Errorf("sink: %w", dispatcher.PerEvent([]error{errors.New("x")})), 0), OutcomePerEvent},
		{n(errors.New("x"), 0), OutcomeRetryable},
		{n(dispatcher.Permanent(errors.New("x")), 0), OutcomePermanent},
		{n(context.DeadlineExceeded, 0), OutcomeTimeout},
		{n(processor.ErrDispatcherPanicked, 0), OutcomePanic},
	} {
		require.Equal(t, tc.want, Outcome(tc.n), "%v", tc.n.Err)
	}
}
