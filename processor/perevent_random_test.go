package processor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// A careless sink answering random per-event results (delivered,
// retryable, permanent, typed nil, short and long slices, wrapped in
// Partial or fmt.Errorf) over several batches in flight at once: every
// event ends delivered or dead-lettered exactly once, and the processor's
// counts, its notifications and the file agree.
func TestPerEventRandomResultsAddUp(t *testing.T) {
	noLeaks(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	var nilUser *userError
	deliveredOnce := map[int]int{}
	sink := newRecSink(func(_ context.Context, a attempt) error {
		mu.Lock()
		defer mu.Unlock()
		n := len(a.Ns)
		switch rng.IntN(8) {
		case 0:
			n = rng.IntN(n + 1) // short: the rest have no outcome (retried)
		case 1:
			n += 2 // long: the extra entries are ignored
		}
		errs := make([]error, n)
		for i := range errs {
			switch rng.IntN(6) {
			case 0, 1:
			case 2:
				errs[i] = dispatcher.Permanent(fmt.Errorf("no %d", rng.IntN(3)))
			case 3:
				errs[i] = nilUser
			default:
				errs[i] = dispatcher.Retryable(errors.New("busy"), time.Millisecond)
			}
		}
		for i := range min(n, len(a.Ns)) {
			if errs[i] == nil {
				deliveredOnce[a.Ns[i]]++
			}
		}
		var res error = &dispatcher.EventErrors{Errs: errs}
		switch rng.IntN(3) {
		case 0:
			res = dispatcher.Partial(rng.IntN(len(a.Ns)+1), res)
		case 1:
			res = fmt.Errorf("sink: %w", res)
		}
		return res // all delivered (nil entries only, none missing) reads as a full delivery
	})
	const total = 300
	path := walPath(t)
	p := openP(t, path, sink, quiet(WithBatchSize(7), WithMaxInFlight(4), WithMaxRetries(3),
		WithRetryDelay(time.Millisecond, 2*time.Millisecond))...)
	var ns notes
	ns.subscribe(p, BatchDispatched, RetryScheduled, DeadLettered)
	enqueueN(t, p, 0, total)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Stop(ctx))

	st := p.Stats()
	require.EqualValues(t, total, st.Delivered+st.DeadLettered)
	require.Equal(t, st.Delivered, st.DeliveredTotal)
	require.Equal(t, st.DeadLettered, st.DeadLetteredSinceOpen)
	require.Equal(t, st.DeadLettered, st.DeadEvents)
	require.Equal(t, st.Retried, st.RetriedSinceOpen)
	require.Zero(t, st.PendingEvents+st.InFlightEvents+st.InFlightBatches)
	mu.Lock()
	for n, c := range deliveredOnce {
		require.Equal(t, 1, c, "event %d delivered %d times", n, c)
	}
	require.Len(t, deliveredOnce, int(st.Delivered))
	mu.Unlock()

	var delivered, dead int
	for _, n := range ns.of(BatchDispatched) {
		delivered += n.Delivered
	}
	for _, n := range ns.of(DeadLettered) {
		dead += n.Count
	}
	require.EqualValues(t, st.Delivered, delivered)
	require.EqualValues(t, st.DeadLettered, dead)
	require.Len(t, ns.of(RetryScheduled), int(st.Retried))
	require.Equal(t, sink.count(), len(ns.of(BatchDispatched)))

	seen := map[int]bool{}
	inspect(t, path, func(ws *wal.Stream) {
		for _, d := range deadLetters(t, ws) {
			v, err := decode[tev](d.Record.Payload)
			require.NoError(t, err)
			require.False(t, seen[v.N], "event %d dead twice", v.N)
			seen[v.N] = true
			require.Zero(t, deliveredOnce[v.N], "event %d delivered and dead", v.N)
		}
	})
	mustVerifyFile(t, path)
}
