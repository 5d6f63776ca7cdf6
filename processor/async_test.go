package processor

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/wal"
)

// asyncOutcomes collects EnqueueAsync callbacks: the N of each event
// acknowledged, in callback order, and the errors.
type asyncOutcomes struct {
	mu    sync.Mutex
	acked []int
	errs  []error
	wg    sync.WaitGroup
}

func (o *asyncOutcomes) cb(n int) func(error) {
	o.wg.Add(1)
	return func(err error) {
		defer o.wg.Done()
		o.mu.Lock()
		defer o.mu.Unlock()
		if err != nil {
			o.errs = append(o.errs, err)
			return
		}
		o.acked = append(o.acked, n)
	}
}

// Many events on their way at once from one producer: each callback says
// nil once, in enqueue order, every event is delivered in order, and the
// callback runs once the event is in the WAL.
func TestEnqueueAsync(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(100))...)
	var o asyncOutcomes
	const n = 2000
	var notCommitted atomic.Int64
	for i := range n {
		cb := o.cb(i)
		require.NoError(t, p.EnqueueAsync(tev{N: i}, func(err error) {
			// The commit happened before the callback: the stream
			// already counts the event.
			if err == nil && p.Stream().Stats().LastSeq < uint64(i+1) {
				notCommitted.Add(1)
			}
			cb(err)
		}))
	}
	o.wg.Wait()
	require.Empty(t, o.errs)
	require.Equal(t, seqN(0, n), o.acked)
	require.Zero(t, notCommitted.Load(), "a callback ran before its event was committed")
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, seqN(0, n), sink.delivered())
}

// Errors known before queuing are returned, and the callback is not
// called; errors of the commit go to the callback.
func TestEnqueueAsyncErrors(t *testing.T) {
	t.Run("too large, stopped", func(t *testing.T) {
		noLeaks(t)
		p := openP(t, walPath(t), newRecSink(nil), quiet(WithBatchBytes(64))...)
		called := false
		err := p.EnqueueAsync(tev{P: strings.Repeat("x", 100)}, func(error) { called = true })
		require.ErrorIs(t, err, ErrEventTooLarge)
		require.NoError(t, p.Stop(context.Background()))
		require.ErrorIs(t, p.EnqueueAsync(tev{N: 1}, func(error) { called = true }), ErrStopped)
		require.False(t, called)
	})
	for _, policy := range []FullPolicy{Block, FailFast} {
		t.Run("full, policy "+map[FullPolicy]string{Block: "block", FailFast: "fail fast"}[policy], func(t *testing.T) {
			noLeaks(t)
			sink := newRecSink(nil)
			p := openP(t, walPath(t), sink, quiet(WithBatchSize(2), WithPendingLimits(2, 0), WithFullPolicy(policy),
				WithStartOnOpen(false))...)
			var o asyncOutcomes
			for i := range 3 {
				require.NoError(t, p.EnqueueAsync(tev{N: i}, o.cb(i)))
				o.wg.Wait() // one commit each: the third passes the limit
			}
			require.Equal(t, []int{0, 1}, o.acked)
			require.Len(t, o.errs, 1)
			require.ErrorIs(t, o.errs[0], ErrFull)
			require.NoError(t, p.Start())
			require.NoError(t, p.Flush(context.Background()))
			require.Equal(t, []int{0, 1}, sink.delivered(), "the refused event is not in the WAL")
		})
	}
	t.Run("log closed before the commit", func(t *testing.T) {
		noLeaks(t)
		l, err := wal.Open(walPath(t), nil)
		require.NoError(t, err)
		p, err := New[tev](l, newRecSink(nil), quiet(WithStartOnOpen(false))...)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		var o asyncOutcomes
		require.NoError(t, p.EnqueueAsync(tev{N: 1}, o.cb(1)))
		o.wg.Wait()
		require.Empty(t, o.acked)
		require.Len(t, o.errs, 1)
		require.ErrorIs(t, o.errs[0], ErrStopped)
		require.NoError(t, p.Stop(context.Background()))
	})
}

// Stop returns only after every accepted EnqueueAsync has had its callback
// (noLeaks checks that the callback goroutine is gone too), and whatever
// was acknowledged is in the WAL for the next open.
func TestEnqueueAsyncStop(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	// The stop timeout bounds the wait for callbacks too: 5000 sleeps
	// take seconds on a loaded machine.
	p := openP(t, path, newRecSink(nil), quiet(WithStartOnOpen(false), WithStopTimeout(time.Minute))...)
	var acked, failed atomic.Int64
	const n = 5000
	for i := range n {
		require.NoError(t, p.EnqueueAsync(tev{N: i}, func(err error) {
			time.Sleep(time.Microsecond) // slow callbacks: Stop must wait for them
			if err != nil {
				failed.Add(1)
			} else {
				acked.Add(1)
			}
		}))
	}
	err := p.Stop(context.Background())
	require.EqualValues(t, n, acked.Load()+failed.Load(), "every callback ran before Stop returned")
	require.Zero(t, failed.Load())
	u := requireLeft(t, err, leftIn(t, path, DefaultStream))
	require.EqualValues(t, n, u.PendingEvents, "never started: every acknowledged event is left, and counted")
	inspect(t, path, func(s *wal.Stream) {
		require.EqualValues(t, acked.Load(), s.Stats().PendingEvents)
	})
}

// A callback may call the processor, even the waiting Enqueue: callbacks do
// not run on the WAL's committer.
func TestEnqueueAsyncCallbackMayEnqueue(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(10))...)
	done := make(chan error, 1)
	require.NoError(t, p.EnqueueAsync(tev{N: 0}, func(err error) {
		if err != nil {
			done <- err
			return
		}
		done <- p.Enqueue(context.Background(), tev{N: 1})
	}))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Enqueue from a callback did not return")
	}
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, []int{0, 1}, sink.delivered())
}

// Concurrent producers: every callback once, every acknowledged event
// delivered once (race detector on).
func TestEnqueueAsyncConcurrent(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	p := openP(t, filepath.Join(t.TempDir(), "c.wal"), sink, quiet(WithBatchSize(50))...)
	var o asyncOutcomes
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				n := g*500 + i
				if err := p.EnqueueAsync(tev{N: n}, o.cb(n)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	o.wg.Wait()
	require.Empty(t, o.errs)
	require.Len(t, o.acked, 2000)
	require.NoError(t, p.Flush(context.Background()))
	require.ElementsMatch(t, seqN(0, 2000), sink.delivered())
}

// Encoding through a pointer gives the bytes the encoder gives for the
// value (as the processor encoded before), whichever way encodeByPointer
// picks.
func TestEncodeMatchesMarshal(t *testing.T) {
	type plain struct {
		A string            `msgpack:"a"`
		B int64             `msgpack:"b"`
		M map[string]string `msgpack:"m"`
	}
	type nested struct {
		P plain `msgpack:"p"`
		Q tev   `msgpack:"q"` // omitempty inside
	}
	check := func(t *testing.T, v any, enc []byte, err error) {
		t.Helper()
		require.NoError(t, err)
		var buf bytes.Buffer
		ref := msgpack.NewEncoder(&buf)
		ref.UseCompactInts(true) // as the processor's encoders
		require.NoError(t, ref.Encode(v))
		want := buf.Bytes()
		require.Equal(t, want, enc)
	}
	require.True(t, encodeByPointer[plain]())
	require.False(t, encodeByPointer[tev]())
	require.False(t, encodeByPointer[nested]())
	require.True(t, encodeByPointer[[]byte]())
	p := plain{A: "x", B: -3, M: map[string]string{"k": "v"}}
	enc, err := encode(p)
	check(t, p, enc, err)
	tv := tev{N: 7, P: "pad"}
	enc, err = encode(tv)
	check(t, tv, enc, err)
	nv := nested{P: p, Q: tv}
	enc, err = encode(nv)
	check(t, nv, enc, err)
	enc, err = encode(&p)
	check(t, &p, enc, err)
	enc, err = encode([]byte{1, 2, 3})
	check(t, []byte{1, 2, 3}, enc, err)
	enc, err = encode([]byte(nil))
	check(t, []byte(nil), enc, err)
	enc, err = encode[any](map[string]any{"a": 1})
	check(t, map[string]any{"a": 1}, enc, err)
}

// A callback that panics is logged; the process goes on, the callbacks
// after it still run, the events are delivered and Stop returns.
func TestEnqueueAsyncCallbackPanics(t *testing.T) {
	noLeaks(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(10),
		WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))))...)
	var o asyncOutcomes
	for i := range 20 {
		cb := o.cb(i)
		require.NoError(t, p.EnqueueAsync(tev{N: i}, func(err error) {
			cb(err)
			if i%5 == 0 {
				panic("callback bug")
			}
		}))
	}
	o.wg.Wait()
	require.Equal(t, seqN(0, 20), o.acked)
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, seqN(0, 20), sink.delivered())
	require.NoError(t, p.Stop(context.Background()))
	logMu.Lock()
	defer logMu.Unlock()
	require.Equal(t, 4, strings.Count(logs.String(), "EnqueueAsync callback panicked"), logs.String())
	require.Contains(t, logs.String(), "callback bug")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
