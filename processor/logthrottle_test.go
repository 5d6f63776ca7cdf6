package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLogThrottleAllowsOnePerPeriodAndCountsTheRest(t *testing.T) {
	lt := newLogThrottle(10 * time.Second)
	t0 := time.Unix(1000, 0)
	ok, n := lt.allow("a", t0)
	require.True(t, ok)
	require.Zero(t, n)
	for i := range 5 {
		ok, _ = lt.allow("a", t0.Add(time.Duration(i)*time.Second))
		require.False(t, ok)
	}
	ok, _ = lt.allow("b", t0.Add(time.Second))
	require.True(t, ok, "another message is not held back")
	ok, n = lt.allow("a", t0.Add(10*time.Second))
	require.True(t, ok)
	require.Equal(t, 5, n)

	for i := range 2 * logThrottleMax {
		lt.allow(fmt.Sprint(i), t0.Add(time.Minute))
	}
	require.LessOrEqual(t, len(lt.seen), logThrottleMax)
}

// A retry is logged at WARN with what an operator needs, once however
// often the same failure repeats within the period; a panic at ERROR with
// its stack.
func TestRetryAndPanicLogs(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	var logs bytes.Buffer
	var calls atomic.Int64
	sink := newRecSink(func(context.Context, attempt) error {
		switch calls.Add(1) {
		case 1:
			panic("boom")
		case 2, 3, 4:
			return errors.New("sink down")
		}
		return nil
	})
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(2), WithStartOnOpen(false), WithRetryDelay(time.Millisecond, time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))))...)
	p.logs.every = time.Hour // the repeats below fall within one period however slow the machine
	ctx := context.Background()
	require.NoError(t, p.EnqueueMany(ctx, []tev{{N: 1}, {N: 2}}))
	require.NoError(t, p.Start())
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Stop(ctx))
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	require.EqualValues(t, 5, calls.Load())

	require.Equal(t, 1, strings.Count(out, "dispatcher panicked;"), out)
	require.Contains(t, out, `level=ERROR msg="walbatch: dispatcher panicked;`)
	require.Contains(t, out, "panic=boom")
	require.Contains(t, out, "goroutine ", "the stack is logged")

	retries := strings.Count(out, "retry scheduled")
	require.Equal(t, 2, retries, "the panic's retry, then one of the three identical failures: %s", out)
	require.Contains(t, out, `level=WARN msg="walbatch: dispatch failed; retry scheduled" stream=default`)
	require.Contains(t, out, `attempt=2 err="sink down" next_attempt=`)
	require.Contains(t, out, "batch="+sink.attempts[0].BatchID)
}
