package processor

import (
	"context"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// The receiver answers 500 for a while, then recovers: nothing is lost,
// the backlog drains, and while a backlog of 50k events (about 25 MB of
// payload) waits, the heap stays far below its size: it lives on disk.
func TestSinkOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 50k-event backlog")
	}
	noLeaks(t)
	const total, chunk = 50_000, 1000
	var down atomic.Bool
	down.Store(true)
	rc := newCrashReceiver()
	var refused atomic.Int64
	rc.fail = func() bool {
		if down.Load() {
			refused.Add(1)
			return true
		}
		return false
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	h, err := dispatcher.NewHTTP[crashEv](srv.URL)
	require.NoError(t, err)
	defer h.CloseIdleConnections()

	p, err := Open[crashEv](walPath(t), h, WithBatchSize(500), WithMaxAge(20*time.Millisecond), WithInactiveTimeout(10*time.Millisecond),
		WithRetryDelay(20*time.Millisecond, 100*time.Millisecond), WithMaxRetries(1_000_000), WithStopTimeout(30*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(context.Background()) })

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	base := heap()
	pad := strings.Repeat("p", 500)
	evs := make([]crashEv, chunk)
	for c := range total / chunk {
		for i := range evs {
			evs[i] = crashEv{K: fmt.Sprintf("c%d-i%d-%s", c, i, pad)}
		}
		require.NoError(t, p.EnqueueMany(context.Background(), evs))
	}
	evs = nil
	var peak uint64
	for range 5 {
		peak = max(peak, heap())
		time.Sleep(50 * time.Millisecond)
	}
	st := p.Stats()
	require.Positive(t, refused.Load(), "the receiver was never called while down")
	require.Zero(t, rc.unique())
	require.EqualValues(t, total, st.PendingEvents+st.InFlightEvents)
	grew := int64(peak) - int64(base)
	t.Logf("heap in use: %d KiB before, %d KiB peak with %d events (%d MiB) waiting; %d refused attempts",
		base>>10, peak>>10, total, (int64(total)*int64(len(pad)))>>20, refused.Load())
	require.Less(t, grew, int64(16<<20), "the heap grew with the backlog")

	down.Store(false)
	require.Eventually(t, func() bool { return rc.unique() == total }, 120*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Stop(context.Background()))
	st = p.Stats()
	require.Zero(t, st.DeadEvents)
	require.Zero(t, st.PendingEvents+st.InFlightEvents)
	require.Empty(t, rc.conflicts)
}
