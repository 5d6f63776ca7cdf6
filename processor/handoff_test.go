package processor

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

type plainEv struct {
	ID    string
	N     int64
	F     float64
	OK    bool
	Tags  [3]string
	Inner struct{ A, B string }
}

type mapEv struct {
	ID    string            `msgpack:"id"`
	Attrs map[string]string `msgpack:"attrs"`
	List  []int             `msgpack:"list"` // not omitempty: an empty one would decode as nil
	Ptr   *string           `msgpack:"ptr"`
}

type withUnexported struct {
	ID string
	//lint:ignore U1000 an unexported field is the point of the test
	secret string
}

type withSkipped struct {
	ID   string
	Skip string `msgpack:"-"`
}

type withAny struct {
	ID string
	V  any
}

type withTime struct {
	At time.Time
}

type textID string

func (t textID) MarshalText() ([]byte, error) { return []byte(t), nil }

type withMarshaler struct{ ID textID }

type Inner struct{ A string }

type withEmbeddedPtr struct {
	*Inner
	ID string
}

type selfRef struct {
	Next *selfRef
	N    int
}

func TestRoundTripsTypeCheck(t *testing.T) {
	for _, c := range []struct {
		t     reflect.Type
		refs  bool
		exact bool
	}{
		{reflect.TypeFor[string](), false, true},
		{reflect.TypeFor[plainEv](), false, true},
		{reflect.TypeFor[tev](), false, true},
		{reflect.TypeFor[[]byte](), true, true},
		{reflect.TypeFor[mapEv](), true, true},
		{reflect.TypeFor[selfRef](), true, true},
		{reflect.TypeFor[withUnexported](), false, false},
		{reflect.TypeFor[withSkipped](), false, false},
		{reflect.TypeFor[withAny](), true, false},
		{reflect.TypeFor[withTime](), false, false},
		{reflect.TypeFor[withMarshaler](), false, false},
		{reflect.TypeFor[map[string]any](), true, false},
		{reflect.TypeFor[complex128](), true, false},
		{reflect.TypeFor[withEmbeddedPtr](), true, false},
	} {
		refs, why := roundTrips(c.t, nil)
		require.Equal(t, c.exact, why == "", "%s: %s", c.t, why)
		if c.exact {
			require.Equal(t, c.refs, refs, "%s", c.t)
		}
	}
}

// collect is a sink that records every value it is given, by attempt.
type collect[T any] struct {
	mu       sync.Mutex
	attempts [][]T
	fail     int // fail this many attempts first
}

func (c *collect[T]) Dispatch(_ context.Context, b *dispatcher.Batch[T]) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	vals := make([]T, len(b.Events))
	for i := range b.Events {
		vals[i] = b.Events[i].Value
	}
	c.attempts = append(c.attempts, vals)
	if c.fail > 0 {
		c.fail--
		return errors.New("sink down")
	}
	return nil
}

func (c *collect[T]) all() [][]T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]T(nil), c.attempts...)
}

func plainN(n int) []plainEv {
	out := make([]plainEv, n)
	for i := range out {
		out[i] = plainEv{ID: string(rune('a'+i%26)) + "-x", N: int64(i), F: float64(i) / 3, OK: i%2 == 0,
			Tags: [3]string{"t", "", "u"}}
		out[i].Inner.A = "in"
	}
	return out
}

// A plain T is handed off by default, and the dispatcher sees the same
// values as with every event decoded from the WAL.
func TestHandoffAutoGivesTheDecodedValues(t *testing.T) {
	noLeaks(t)
	evs := plainN(250)
	run := func(opts ...Option) ([]plainEv, Stats) {
		sink := &collect[plainEv]{}
		// Started after the enqueues, so that every batch is full and
		// the ring holds all 250 (handoffcommit_test.go has a batch
		// sealed the moment a commit fills it).
		p, err := Open[plainEv](walPath(t), sink, quiet(append(opts, WithBatchSize(50), WithStartOnOpen(false))...)...)
		require.NoError(t, err)
		for i := range evs[:100] {
			require.NoError(t, p.Enqueue(context.Background(), evs[i]))
		}
		require.NoError(t, p.EnqueueMany(context.Background(), evs[100:200]))
		done := make(chan error, 50)
		for i := range evs[200:] {
			require.NoError(t, p.EnqueueAsync(evs[200+i], func(err error) { done <- err }))
		}
		for range 50 {
			require.NoError(t, <-done)
		}
		require.NoError(t, p.Start())
		require.NoError(t, p.Flush(context.Background()))
		st := p.Stats()
		require.NoError(t, p.Stop(context.Background()))
		var got []plainEv
		for _, a := range sink.all() {
			got = append(got, a...)
		}
		return got, st
	}
	handed, st := run()
	require.Equal(t, int64(len(evs)), st.HandedOff, "every event came from the handoff")
	decoded, st := run(WithHandoff(HandoffOff))
	require.Zero(t, st.HandedOff)
	require.Equal(t, evs, handed)
	require.Equal(t, decoded, handed)
}

// A T holding a map is decoded by default: a change the producer makes
// after Enqueue does not reach the dispatcher.
func TestHandoffAutoDecodesReferenceTypes(t *testing.T) {
	noLeaks(t)
	sink := &collect[mapEv]{}
	p, err := Open[mapEv](walPath(t), sink, quiet(WithBatchSize(2), WithStartOnOpen(false))...)
	require.NoError(t, err)
	ev := mapEv{ID: "a", Attrs: map[string]string{"k": "before"}}
	require.NoError(t, p.Enqueue(context.Background(), ev))
	ev.Attrs["k"] = "after" // the same map
	require.NoError(t, p.Enqueue(context.Background(), ev))
	require.NoError(t, p.Start())
	require.NoError(t, p.Flush(context.Background()))
	require.Zero(t, p.Stats().HandedOff)
	require.NoError(t, p.Stop(context.Background()))
	got := sink.all()
	require.Len(t, got, 1)
	require.Equal(t, "before", got[0][0].Attrs["k"])
	require.Equal(t, "after", got[0][1].Attrs["k"])
}

func TestHandoffOwned(t *testing.T) {
	noLeaks(t)
	s := "p"
	sink := &collect[mapEv]{}
	p, err := Open[mapEv](walPath(t), sink, quiet(WithBatchSize(10), WithHandoff(HandoffOwned))...)
	require.NoError(t, err)
	var want []mapEv
	for i := range 30 {
		ev := mapEv{ID: string(rune('a' + i)), Attrs: map[string]string{"i": string(rune('0' + i%10))}, List: []int{i}, Ptr: &s}
		want = append(want, ev)
		require.NoError(t, p.Enqueue(context.Background(), ev))
	}
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, int64(30), p.Stats().HandedOff)
	require.NoError(t, p.Stop(context.Background()))
	var got []mapEv
	for _, a := range sink.all() {
		got = append(got, a...)
	}
	require.Equal(t, want, got)

	for _, open := range []func() error{
		func() error {
			_, err := Open[withAny](walPath(t), &collect[withAny]{}, WithHandoff(HandoffOwned))
			return err
		},
		func() error {
			_, err := Open[withUnexported](walPath(t), &collect[withUnexported]{}, WithHandoff(HandoffOwned))
			return err
		},
		func() error {
			_, err := Open[withTime](walPath(t), &collect[withTime]{}, WithHandoff(HandoffOwned))
			return err
		},
	} {
		err := open()
		require.ErrorIs(t, err, ErrInvalidOption)
		require.ErrorContains(t, err, "does not decode to an equal value")
	}
	_, err = Open[tev](walPath(t), &collect[tev]{}, WithHandoff(Handoff(7)))
	require.ErrorIs(t, err, ErrInvalidOption)
}

// A retried batch is decoded (the handoff gave its values away on the
// first attempt): the retry sees the same values.
func TestHandoffRetryDecodesTheSameValues(t *testing.T) {
	noLeaks(t)
	sink := &collect[plainEv]{fail: 1}
	p, err := Open[plainEv](walPath(t), sink, quiet(WithBatchSize(20), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	require.NoError(t, err)
	evs := plainN(20)
	require.NoError(t, p.EnqueueMany(context.Background(), evs))
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, int64(20), p.Stats().HandedOff, "only the first attempt is handed off")
	require.NoError(t, p.Stop(context.Background()))
	got := sink.all()
	require.Len(t, got, 2)
	require.Equal(t, evs, got[0])
	require.Equal(t, evs, got[1])
}

// Behind a backlog larger than the handoff keeps, the oldest events are
// decoded and the newest handed off; every value arrives intact.
func TestHandoffOverflowFallsBackToDecoding(t *testing.T) {
	noLeaks(t)
	sink := &collect[plainEv]{}
	p, err := Open[plainEv](walPath(t), sink, quiet(WithBatchSize(100), WithStartOnOpen(false))...)
	require.NoError(t, err)
	capacity := handoffCapacity(100)
	evs := plainN(capacity + 300)
	require.NoError(t, p.EnqueueMany(context.Background(), evs))
	require.NoError(t, p.Start())
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, int64(capacity), p.Stats().HandedOff)
	require.NoError(t, p.Stop(context.Background()))
	var got []plainEv
	for _, a := range sink.all() {
		got = append(got, a...)
	}
	require.Equal(t, evs, got)
}
