package processor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A Flush still waiting when Stop's time runs out must not report success:
// its events are not delivered (they stay in the WAL for the next open).
func TestFlushCutShortByStopIsNotSuccess(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(failing)
	path := walPath(t)
	p := openP(t, path, sink, quiet(WithStopTimeout(200*time.Millisecond), WithRetryDelay(time.Hour, time.Hour))...)
	enqueueN(t, p, 1, 3)

	flushed := make(chan error, 1)
	go func() { flushed <- p.Flush(context.Background()) }()
	require.Eventually(t, func() bool { return sink.count() > 0 }, 5*time.Second, time.Millisecond)

	u := requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream))
	require.EqualValues(t, 3, u.InFlightEvents, "the flushed batch waits to retry")
	select {
	case err := <-flushed:
		require.ErrorIs(t, err, ErrStopped, "Flush returned while its events were not delivered")
	case <-time.After(5 * time.Second):
		t.Fatal("Flush did not return after Stop")
	}
}
