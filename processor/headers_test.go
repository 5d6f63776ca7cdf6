package processor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

func traceOf(e tev) map[string]string {
	if e.N < 0 {
		return nil
	}
	return map[string]string{"traceparent": fmt.Sprintf("00-%032x-%016x-01", e.N, e.N), "route": "r" + fmt.Sprint(e.N%2)}
}

// headerSink is a Func dispatcher that keeps the headers of every event it
// is given (by N, attempt after attempt) and fails as fail says.
type headerSink struct {
	mu   sync.Mutex
	seen map[int][]map[string]string
	ok   map[int]bool
	fail func(b *dispatcher.Batch[tev]) error
}

func (h *headerSink) dispatch(_ context.Context, b *dispatcher.Batch[tev]) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range b.Events {
		h.seen[e.Value.N] = append(h.seen[e.Value.N], e.Headers)
	}
	var err error
	if h.fail != nil {
		err = h.fail(b)
	}
	if err == nil {
		for _, e := range b.Events {
			h.ok[e.Value.N] = true
		}
	}
	return err
}

func (h *headerSink) setFail(fn func(b *dispatcher.Batch[tev]) error) {
	h.mu.Lock()
	h.fail = fn
	h.mu.Unlock()
}

func (h *headerSink) delivered(n int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok[n]
}

// Headers set at enqueue reach the dispatcher on every path: Enqueue,
// EnqueueMany, EnqueueAsync (values from the handoff), a retry and a
// requeue from dead letters (values decoded from the WAL), and a restart
// that recovers what the first run left.
func TestEventHeadersReachTheDispatcherOnEveryPath(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	h := &headerSink{seen: map[int][]map[string]string{}, ok: map[int]bool{}}
	h.fail = func(b *dispatcher.Batch[tev]) error {
		switch n := b.Events[0].Value.N; {
		case n == 1 && b.Attempt == 1:
			return errDown // retried
		case n == 2:
			return dispatcher.Permanent(errDown) // dead-lettered, requeued below
		}
		return nil
	}
	opts := quiet(WithBatchSize(1), WithRetryDelay(time.Millisecond, time.Millisecond), WithEventHeaders(traceOf))
	p, err := Open[tev](path, dispatcher.Func[tev](h.dispatch), opts...)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, p.Enqueue(ctx, tev{N: 0}))
	require.NoError(t, p.EnqueueMany(ctx, []tev{{N: 1}, {N: 2}, {N: -1}}))
	done := make(chan error, 1)
	require.NoError(t, p.EnqueueAsync(tev{N: 3}, func(err error) { done <- err }))
	require.NoError(t, <-done)
	require.NoError(t, p.Drain(ctx))

	var dead []DeadLetter[tev]
	require.NoError(t, p.DeadLetters(func(d DeadLetter[tev]) error { dead = append(dead, d); return nil }))
	require.Len(t, dead, 1)
	require.Equal(t, traceOf(tev{N: 2}), dead[0].Headers)
	h.setFail(nil)
	n, err := p.RequeueAllDead()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, p.Drain(ctx))

	require.NoError(t, p.Stop(ctx))

	// Left pending by a run that never dispatched, then recovered by a
	// restart, whose values are all decoded from the WAL.
	p, err = Open[tev](path, dispatcher.Func[tev](h.dispatch), append(opts, WithStartOnOpen(false))...)
	require.NoError(t, err)
	require.NoError(t, p.Enqueue(ctx, tev{N: 4}))
	require.EqualValues(t, 1, requireLeft(t, p.Stop(ctx), leftIn(t, path, DefaultStream)).PendingEvents)
	require.False(t, h.delivered(4))
	p = openP(t, path, dispatcher.Func[tev](h.dispatch), opts...)
	require.Eventually(t, func() bool { return h.delivered(4) }, 15*time.Second, time.Millisecond)
	require.NoError(t, p.Stop(ctx))

	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range []int{0, 1, 2, 3, 4} {
		require.True(t, h.ok[n], "event %d delivered", n)
		require.GreaterOrEqual(t, len(h.seen[n]), 1)
		for i, got := range h.seen[n] {
			require.Equal(t, traceOf(tev{N: n}), got, "event %d, attempt %d", n, i+1)
		}
	}
	require.Len(t, h.seen[1], 2, "event 1 was retried")
	require.Len(t, h.seen[2], 2, "event 2 was requeued")
	require.Equal(t, []map[string]string{nil}, h.seen[-1], "an event without headers gets nil")
}

func TestEventHeadersAreChecked(t *testing.T) {
	noLeaks(t)
	bad := map[string]map[string]string{
		"empty key":     {"": "v"},
		"key not UTF-8": {"\xff": "v"},
		"value invalid": {"k": "\xc3"},
		"too large":     {"k": strings.Repeat("v", MaxHeaderBytes)},
	}
	var which map[string]string
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithEventHeaders(func(tev) map[string]string { return which }))...)
	ctx := context.Background()
	for name, h := range bad {
		which = h
		require.ErrorIs(t, p.Enqueue(ctx, tev{N: 1}), ErrInvalidHeaders, name)
		require.ErrorIs(t, p.EnqueueMany(ctx, []tev{{N: 1}}), ErrInvalidHeaders, name)
		require.ErrorIs(t, p.EnqueueAsync(tev{N: 1}, func(error) { t.Error("called") }), ErrInvalidHeaders, name)
	}
	which = map[string]string{"k": strings.Repeat("v", MaxHeaderBytes-1)}
	require.NoError(t, p.Enqueue(ctx, tev{N: 2}), "exactly at the limit")
	require.EqualValues(t, 1, p.Stream().Stats().PendingEvents, "nothing refused was written")

	_, err := Open[tev](walPath(t), sink, WithEventHeaders[tev](nil))
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = Open[tev](walPath(t), sink, WithEventHeaders(func(int) map[string]string { return nil }))
	require.ErrorIs(t, err, ErrInvalidOption)
}
