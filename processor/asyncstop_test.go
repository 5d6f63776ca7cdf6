package processor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

// An EnqueueAsync callback that never returns kept Stop waiting forever
// (Stop waited for callbacks before its deadline began). Stop returns a
// second past its deadline with ErrStuck; the events are committed and
// delivered by the drain; the callback queued behind the stuck one runs
// once it returns, and then no goroutine is left.
func TestStopReturnsPastAStuckEnqueueAsyncCallback(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	sink := newRecSink(nil)
	p := openP(t, path, sink, quiet(WithStopTimeout(200*time.Millisecond))...)
	release := make(chan struct{})
	entered := make(chan struct{})
	after := make(chan error, 1)
	require.NoError(t, p.EnqueueAsync(tev{N: 0}, func(err error) {
		close(entered)
		<-release // ignores everything: a callback that waits for Stop, say
	}))
	require.NoError(t, p.EnqueueAsync(tev{N: 1}, func(err error) { after <- err }))
	<-entered

	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(context.Background()) }()
	var err error
	select {
	case err = <-stopped:
	case <-time.After(time.Minute): // a bound against hanging, not a speed assertion
		close(release)
		t.Fatal("Stop did not return past a callback that never returns")
	}
	require.ErrorIs(t, err, ErrStuck)
	require.Contains(t, err.Error(), "2 EnqueueAsync callbacks had not returned")
	require.Equal(t, []int{0, 1}, sink.delivered(), "both events were committed and drained")
	inspect(t, path, func(s *wal.Stream) { require.Zero(t, s.Stats().PendingEvents) })
	select {
	case <-after:
		t.Fatal("the callback behind the stuck one ran before it returned")
	default:
	}
	close(release)
	require.NoError(t, <-after, "the callback behind it runs, with its commit's result")
	// noLeaks: the acker's goroutine ends after the last callback.
}

// A ctx that ends cuts the wait for callbacks short as it cuts the drain.
func TestStopCtxCutsTheWaitForACallback(t *testing.T) {
	noLeaks(t)
	p := openP(t, walPath(t), newRecSink(nil), quiet(WithStopTimeout(time.Hour))...)
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{})
	require.NoError(t, p.EnqueueAsync(tev{N: 0}, func(error) { close(entered); <-release }))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(ctx) }()
	select {
	case err := <-stopped:
		require.True(t, errors.Is(err, ErrStuck), "%v", err)
	case <-time.After(time.Minute):
		t.Fatal("Stop did not honour its ctx")
	}
}
