package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// A batch is a run of consecutive events with the same key: A, B, A, A
// gives [A] [B] [A A], one by one or in one call.
func TestBatchKeySeparatesBatches(t *testing.T) {
	keys := []string{"A", "B", "A", "A"}
	for _, many := range []bool{false, true} {
		t.Run(fmt.Sprintf("many=%v", many), func(t *testing.T) {
			noLeaks(t)
			sink := newRecSink(nil)
			p := openP(t, walPath(t), sink, quiet(WithBatchSize(10), WithBatchKey(func(e tev) string { return e.K }))...)
			evs := make([]tev, len(keys))
			for i, k := range keys {
				evs[i] = tev{N: i, K: k}
			}
			if many {
				require.NoError(t, p.EnqueueMany(context.Background(), evs))
			} else {
				for _, e := range evs {
					require.NoError(t, p.Enqueue(context.Background(), e))
				}
			}
			require.NoError(t, p.Flush(context.Background()))
			got := sink.all()
			require.Len(t, got, 3)
			require.Equal(t, []int{0}, got[0].Ns)
			require.Equal(t, []string{"A"}, got[0].Keys)
			require.Equal(t, []int{1}, got[1].Ns)
			require.Equal(t, []string{"B"}, got[1].Keys)
			require.Equal(t, []int{2, 3}, got[2].Ns)
			require.Equal(t, []string{"A", "A"}, got[2].Keys)
		})
	}
}

// A key change closes a run without waiting for a timer: the [A] batch
// goes out as soon as a B arrives.
func TestBatchKeyChangeClosesRun(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(10), WithBatchKey(func(e tev) string { return e.K }))...)
	require.NoError(t, p.Enqueue(context.Background(), tev{N: 0, K: "A"}))
	require.NoError(t, p.Enqueue(context.Background(), tev{N: 1, K: "A"}))
	require.NoError(t, p.Enqueue(context.Background(), tev{N: 2, K: "B"}))
	sink.waitDelivered(t, 2)
	require.Equal(t, []int{0, 1}, sink.all()[0].Ns)
}

// The byte limit cuts batches before they would pass it, and an event
// larger than it is refused at Enqueue.
func TestBatchByteLimit(t *testing.T) {
	noLeaks(t)
	ev := tev{P: strings.Repeat("x", 300)}
	enc, err := encode(ev)
	require.NoError(t, err)
	size := int64(len(enc))
	limit := 3*size + size/2 // three fit, four do not
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(100), WithBatchBytes(limit))...)
	for i := range 7 {
		ev.N = i
		require.NoError(t, p.Enqueue(context.Background(), ev))
	}
	require.NoError(t, p.Flush(context.Background()))
	got := sink.all()
	require.Len(t, got, 3)
	require.Equal(t, seqN(0, 3), got[0].Ns)
	require.Equal(t, seqN(3, 3), got[1].Ns)
	require.Equal(t, []int{6}, got[2].Ns)

	big := tev{N: 99, P: strings.Repeat("y", int(limit))}
	last := p.Stream().Stats().LastSeq
	require.ErrorIs(t, p.Enqueue(context.Background(), big), ErrEventTooLarge)
	require.ErrorIs(t, p.TryEnqueue(big), ErrEventTooLarge)
	require.ErrorIs(t, p.EnqueueMany(context.Background(), []tev{{N: 100}, big}), ErrEventTooLarge)
	require.Equal(t, last, p.Stream().Stats().LastSeq, "a refused event was written")
}

// Block waits for space until ctx ends; FailFast, and TryEnqueue always,
// return ErrFull.
func TestPendingLimits(t *testing.T) {
	release := make(chan struct{})
	blocked := func(ctx context.Context, _ attempt) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t.Run("block", func(t *testing.T) {
		noLeaks(t)
		sink := newRecSink(blocked)
		p := openP(t, walPath(t), sink, quiet(WithBatchSize(4), WithPendingLimits(4, 0))...)
		enqueueN(t, p, 0, 4) // one batch, in flight and stuck
		require.Eventually(t, func() bool { return p.Stats().InFlightEvents == 4 }, 5*time.Second, time.Millisecond)

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, p.Enqueue(ctx, tev{N: 4}), context.DeadlineExceeded)
		require.ErrorIs(t, p.TryEnqueue(tev{N: 4}), ErrFull)
		require.ErrorIs(t, p.EnqueueMany(ctx, []tev{{N: 4}}), context.DeadlineExceeded)

		done := make(chan error, 1)
		go func() { done <- p.Enqueue(context.Background(), tev{N: 4}) }()
		select {
		case err := <-done:
			t.Fatalf("Enqueue returned %v while the stream was full", err)
		case <-time.After(100 * time.Millisecond):
		}
		close(release)
		require.NoError(t, <-done)
		require.NoError(t, p.Flush(context.Background()))
		require.Equal(t, seqN(0, 5), sink.delivered())
	})
	t.Run("fail fast", func(t *testing.T) {
		noLeaks(t)
		sink := newRecSink(nil)
		p := openP(t, walPath(t), sink, quiet(WithBatchSize(2), WithPendingLimits(0, 100), WithFullPolicy(FailFast),
			WithStartOnOpen(false))...)
		ev := tev{P: strings.Repeat("z", 30)}
		enc, _ := encode(ev)
		fit := 100 / len(enc)
		for i := range fit {
			ev.N = i
			require.NoError(t, p.Enqueue(context.Background(), ev))
		}
		require.ErrorIs(t, p.Enqueue(context.Background(), ev), ErrFull)
		require.ErrorIs(t, p.EnqueueMany(context.Background(), []tev{ev}), ErrFull)
		require.NoError(t, p.Start())
		require.NoError(t, p.Flush(context.Background()))
		require.NoError(t, p.Enqueue(context.Background(), ev), "space after delivery")
	})
}

// Pending limits count events in flight and waiting to retry, not dead
// letters (which still show in Stats).
func TestPendingLimitsCountInFlightNotDead(t *testing.T) {
	noLeaks(t)
	var mode sync.Mutex
	outcome := error(errDown)
	sink := newRecSink(func(context.Context, attempt) error {
		mode.Lock()
		defer mode.Unlock()
		return outcome
	})
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(2), WithPendingLimits(4, 0),
		WithRetryDelay(200*time.Millisecond, 200*time.Millisecond), WithMaxRetries(1000))...)
	enqueueN(t, p, 0, 2) // [0 1] fails and waits to retry
	require.Eventually(t, func() bool { return p.Stats().Retried > 0 }, 5*time.Second, time.Millisecond)
	// [2 3] pending behind it. Enqueued while [0 1] was dispatching, they
	// could be sealed ahead (in flight, not pending); waiting to retry, it
	// is not dispatching.
	enqueueN(t, p, 2, 2)
	st := p.Stats()
	require.EqualValues(t, 2, st.InFlightEvents)
	require.EqualValues(t, 2, st.PendingEvents)
	require.ErrorIs(t, p.TryEnqueue(tev{N: 4}), ErrFull)

	mode.Lock()
	outcome = dispatcher.Permanent(errors.New("refused"))
	mode.Unlock()
	require.Eventually(t, func() bool { return p.Stats().DeadEvents == 4 }, 5*time.Second, time.Millisecond)
	mode.Lock()
	outcome = errDown
	mode.Unlock()
	for i := range 4 { // dead letters leave the whole limit free
		require.NoError(t, p.TryEnqueue(tev{N: 10 + i}))
	}
	require.ErrorIs(t, p.TryEnqueue(tev{N: 14}), ErrFull)
	mode.Lock()
	outcome = nil
	mode.Unlock()
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, seqN(10, 4), sink.delivered())
	require.EqualValues(t, 4, p.Stats().DeadEvents)
}

// Invalid options are Open errors, and leave no file locked.
func TestInvalidOptions(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"batch size 0", []Option{WithBatchSize(0)}},
		{"batch size negative", []Option{WithBatchSize(-3)}},
		{"event limit below batch size", []Option{WithBatchSize(10), WithPendingLimits(9, 0)}},
		{"negative event limit", []Option{WithPendingLimits(-1, 0)}},
		{"negative byte limit", []Option{WithPendingLimits(0, -1)}},
		{"byte limit 0", []Option{WithBatchBytes(0)}},
		{"max age 0", []Option{WithMaxAge(0)}},
		{"inactive 0", []Option{WithInactiveTimeout(0)}},
		{"negative retries", []Option{WithMaxRetries(-1)}},
		{"negative retry delay", []Option{WithRetryDelay(-time.Second, time.Second)}},
		{"retry cap below delay", []Option{WithRetryDelay(2*time.Second, time.Second)}},
		{"jitter above 1", []Option{WithJitter(1.5)}},
		{"jitter negative", []Option{WithJitter(-0.1)}},
		{"jitter NaN", []Option{WithJitter(math.NaN())}},
		{"jitter +Inf", []Option{WithJitter(math.Inf(1))}},
		{"jitter -Inf", []Option{WithJitter(math.Inf(-1))}},
		{"unknown sync mode", []Option{WithSync(99)}},
		{"negative sync mode", []Option{WithSync(-1)}},
		{"unknown sync mode in WAL options", []Option{WithWALOptions(wal.Options{Sync: 99})}},
		{"read-only WAL options", []Option{WithWALOptions(wal.Options{ReadOnly: true})}},
		{"WithSync and WAL options disagree", []Option{WithSync(wal.SyncAlways), WithWALOptions(wal.Options{Sync: wal.SyncNone})}},
		{"unknown handoff", []Option{WithHandoff(Handoff(9))}},
		{"negative stop timeout", []Option{WithStopTimeout(-time.Second)}},
		{"negative dispatch timeout", []Option{WithDispatchTimeout(-time.Second)}},
		{"negative max age", []Option{WithMaxAge(-time.Second)}},
		{"negative inactive timeout", []Option{WithInactiveTimeout(-time.Second)}},
		{"stop timeout 0", []Option{WithStopTimeout(0)}},
		{"dispatch timeout 0", []Option{WithDispatchTimeout(0)}},
		{"max in flight 0", []Option{WithMaxInFlight(0)}},
		{"empty stream", []Option{WithStream("")}},
		{"long stream", []Option{WithStream(strings.Repeat("s", 256))}},
		{"unknown policy", []Option{WithFullPolicy(FullPolicy(7))}},
		{"nil logger", []Option{WithLogger(nil)}},
		{"key function of another type", []Option{WithBatchKey(func(int) string { return "" })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := walPath(t)
			_, err := Open[tev](path, sink, tc.opts...)
			require.ErrorIs(t, err, ErrInvalidOption)
			p, err := Open[tev](path, sink, quiet()...) // not locked
			require.NoError(t, err)
			require.NoError(t, p.Stop(context.Background()))
		})
	}
	_, err := Open[tev](walPath(t), nil)
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = os.Stat(walPath(t))
	require.True(t, os.IsNotExist(err))
}

// Many goroutines enqueueing at once: every event is delivered exactly
// once, in enqueue (sequence) order with one batch in flight.
func TestConcurrentEnqueue(t *testing.T) {
	noLeaks(t)
	const producers, each = 16, 150
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, WithBatchSize(64), WithMaxAge(20*time.Millisecond), WithInactiveTimeout(10*time.Millisecond))
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range each {
				if err := p.Enqueue(context.Background(), tev{G: g, N: i}); err != nil {
					t.Errorf("Enqueue: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))

	var lastSeq uint64
	next := make([]int, producers)
	ids := map[string]bool{}
	total := 0
	for _, a := range sink.all() {
		require.NoError(t, a.Err)
		require.LessOrEqual(t, len(a.Ns), 64)
		for i, seq := range a.Seqs {
			require.Greater(t, seq, lastSeq, "out of order")
			lastSeq = seq
			require.False(t, ids[a.IDs[i]], "event %s delivered twice", a.IDs[i])
			ids[a.IDs[i]] = true
			total++
		}
	}
	require.Equal(t, producers*each, total)
	// Per producer, values arrive in the order they were enqueued.
	for _, a := range sink.all() {
		for i, g := range a.Gs {
			require.Equal(t, next[g], a.Ns[i], "producer %d", g)
			next[g]++
		}
	}
}

// EnqueueMany commits many events in one call: all are delivered, in order,
// with the same cut as one by one.
func TestEnqueueMany(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(100))...)
	require.NoError(t, p.EnqueueMany(context.Background(), nil))
	for c := range 3 {
		evs := make([]tev, 250)
		for i := range evs {
			evs[i].N = c*250 + i
		}
		require.NoError(t, p.EnqueueMany(context.Background(), evs))
	}
	require.EqualValues(t, 750, p.Stream().Stats().LastSeq)
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, seqN(0, 750), sink.delivered())
	got := sink.all()
	require.Len(t, got, 8) // 750 = 7*100 + 50
	for _, a := range got[:7] {
		require.Len(t, a.Ns, 100)
	}
	require.Len(t, got[7].Ns, 50)
}

// Raw []byte works as the event type, payloads passed through unchanged.
func TestRawBytesEvents(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	var got [][]byte
	d := dispatcher.Func[[]byte](func(_ context.Context, b *dispatcher.Batch[[]byte]) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range b.Events {
			got = append(got, e.Value)
		}
		return nil
	})
	p, err := Open[[]byte](walPath(t), d, quiet(WithBatchSize(10))...)
	require.NoError(t, err)
	in := [][]byte{[]byte("hello"), {0, 1, 2, 0xff, 0xfe}, []byte(`{"json":true}`), make([]byte, 4096)}
	for _, b := range in {
		require.NoError(t, p.Enqueue(context.Background(), b))
	}
	require.NoError(t, p.Stop(context.Background()))
	require.Equal(t, in, got)
}
