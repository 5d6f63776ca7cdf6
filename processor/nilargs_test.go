package processor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// returnsWithin runs fn and fails the test if it has not returned after
// 10s: a hang guard, not a timing assertion.
func returnsWithin(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

// Every method taking a context treats a nil one as context.Background():
// none panics, Stop(nil) closes the file (a later Open gets the lock) and
// later Stops return its result instead of blocking forever.
//
//nolint:staticcheck // nil contexts on purpose
func TestNilContext(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	sink := newRecSink(nil)
	p := openP(t, path, sink, quiet(WithBatchSize(100))...)
	var nilCtx context.Context
	require.NoError(t, p.Enqueue(nilCtx, tev{N: 0}))
	require.NoError(t, p.EnqueueMany(nilCtx, []tev{{N: 1}, {N: 2}}))
	require.NoError(t, p.TryEnqueue(tev{N: 3}))
	require.NoError(t, returnsWithin(t, "Flush(nil)", func() error { return p.Flush(nilCtx) }))
	require.Equal(t, seqN(0, 4), sink.delivered())
	require.NoError(t, p.Enqueue(nilCtx, tev{N: 4}))
	require.NoError(t, returnsWithin(t, "Drain(nil)", func() error { return p.Drain(nilCtx) }))
	require.NoError(t, returnsWithin(t, "Stop(nil)", func() error { return p.Stop(nilCtx) }))
	require.NoError(t, returnsWithin(t, "a second Stop(nil)", func() error { return p.Stop(nilCtx) }))
	require.NoError(t, returnsWithin(t, "Stop after Stop(nil)", func() error { return p.Stop(context.Background()) }))
	require.ErrorIs(t, p.Enqueue(nilCtx, tev{N: 5}), ErrStopped)
	require.ErrorIs(t, p.EnqueueMany(nilCtx, []tev{{N: 5}}), ErrStopped)
	require.ErrorIs(t, p.Flush(nilCtx), ErrStopped)
	require.Equal(t, seqN(0, 5), sink.delivered(), "Stop(nil) drained")

	p2 := openP(t, path, sink, quiet()...) // the lock was released
	require.NoError(t, p2.Stop(nilCtx))
}

// The Manager's methods treat a nil context as context.Background() too.
//
//nolint:staticcheck // nil contexts on purpose
func TestManagerNilContext(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	var got []int
	factory := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(_ context.Context, b *dispatcher.Batch[int]) error {
			for _, e := range b.Events {
				got = append(got, e.Value)
			}
			return nil
		}), quiet(), nil
	}
	m, err := OpenManager[int](path, factory, time.Hour, nil)
	require.NoError(t, err)
	var nilCtx context.Context
	require.NoError(t, m.Enqueue(nilCtx, "s", 1))
	require.NoError(t, returnsWithin(t, "Manager.Flush(nil)", func() error { return m.Flush(nilCtx) }))
	require.Equal(t, []int{1}, got)
	require.NoError(t, m.Enqueue(nilCtx, "s", 2))
	require.NoError(t, returnsWithin(t, "Manager.Stop(nil)", func() error { return m.Stop(nilCtx) }))
	require.NoError(t, returnsWithin(t, "a second Manager.Stop(nil)", func() error { return m.Stop(nilCtx) }))
	require.Equal(t, []int{1, 2}, got)
	m, err = OpenManager[int](path, factory, time.Hour, nil) // the lock was released
	require.NoError(t, err)
	require.NoError(t, m.Stop(nilCtx))
}

// Nil arguments are refused with ErrInvalidOption at construction, never
// left to panic later: a nil WAL, a nil dispatcher (a nil interface, a nil
// pointer or a nil dispatcher.Func), a nil listener, a nil batch key
// function, a nil factory. Subscribe with a nil listener adds nothing.
func TestNilArguments(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	_, err := New[tev](nil, sink)
	require.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewManager[tev](nil, func(string) (dispatcher.Dispatcher[tev], []Option, error) { return sink, nil, nil }, 0)
	require.ErrorIs(t, err, ErrInvalidOption)

	for name, d := range map[string]dispatcher.Dispatcher[tev]{
		"nil":                 nil,
		"nil pointer":         (*recSink)(nil),
		"nil dispatcher.Func": dispatcher.Func[tev](nil),
	} {
		_, err := Open[tev](walPath(t), d)
		require.ErrorIs(t, err, ErrInvalidOption, name)
	}
	for name, opt := range map[string]Option{
		"nil listener":  WithListener(BatchDispatched, nil),
		"nil batch key": WithBatchKey[tev](nil),
	} {
		path := walPath(t)
		_, err := Open[tev](path, sink, opt)
		require.ErrorIs(t, err, ErrInvalidOption, name)
		p := openP(t, path, sink, quiet()...) // refused before it locked the file
		require.NoError(t, p.Stop(context.Background()))
	}

	l, err := wal.Open(walPath(t), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	_, err = NewManager[tev](l, nil, 0)
	require.ErrorIs(t, err, ErrInvalidOption)

	p, err := New[tev](l, sink, quiet(WithBatchSize(1))...)
	require.NoError(t, err)
	require.Zero(t, p.Subscribe(BatchDispatched, nil))
	require.False(t, p.Unsubscribe(0))
	nt := &notes{}
	nt.subscribe(p, BatchDispatched)
	enqueueN(t, p, 0, 1)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	require.Len(t, nt.of(BatchDispatched), 1)
}
