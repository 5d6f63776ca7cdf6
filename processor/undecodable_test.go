package processor

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/wal"
)

// Payloads of issue 11 that crashed or hung a processor whose T holds
// slices, maps or interfaces: msgpack/v5 allocates on declared lengths
// and recurses once per level.
var hostilePayloads = map[string][]byte{
	"array32 of 4G":    {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
	"map32 of 4G":      {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01},
	"str32 of 4G":      {0xdb, 0xff, 0xff, 0xff, 0xff, 0x01},
	"deep arrays 2M":   append(bytes.Repeat([]byte{0x91}, 2<<20), 0x01),
	"deep maps 1M":     append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 1<<20), 0x01),
	"never used code":  {0xc1},
	"truncated fixmap": {0x82, 0xa1, 'k'},
}

// nestedEv is a type with slices, maps, nested structs and interfaces.
type nestedEv struct {
	N     int            `msgpack:"n"`
	Tags  []string       `msgpack:"tags"`
	Attrs map[string]any `msgpack:"attrs"`
	Inner struct {
		List []nestedItem `msgpack:"list"`
		Any  any          `msgpack:"any"`
	} `msgpack:"inner"`
}

type nestedItem struct {
	M map[string][]int `msgpack:"m"`
}

// anySink records the values of the events it accepts.
type anySink[T any] struct {
	mu   sync.Mutex
	vals []T
}

func (s *anySink[T]) Dispatch(_ context.Context, b *dispatcher.Batch[T]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range b.Events {
		s.vals = append(s.vals, e.Value)
	}
	return nil
}

func (s *anySink[T]) got() []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]T(nil), s.vals...)
}

// appendPayloads writes payloads as events of the default stream with the
// WAL alone (a producer of another program, or a damaged file).
func appendPayloads(t *testing.T, path string, payloads [][]byte) {
	t.Helper()
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	s, err := l.Stream(DefaultStream)
	require.NoError(t, err)
	for _, p := range payloads {
		_, err := s.Append("", p)
		require.NoError(t, err)
	}
}

// undecodableRun enqueues good events with bad payloads among them,
// dispatches them with a Processor[T], and checks that exactly the bad
// ones went to dead letters, alone, with reason "undecodable: ...", and
// the good ones were delivered; then that a restart sends nothing again
// and the file verifies.
func undecodableRun[T any](t *testing.T, bad map[string][]byte, good func(i int) T, n func(T) int) {
	t.Helper()
	path := walPath(t)
	var payloads [][]byte
	var badPayloads [][]byte
	i := 0
	for _, b := range bad {
		i++
		p, err := encode(good(i))
		require.NoError(t, err)
		payloads = append(payloads, p, b)
		badPayloads = append(badPayloads, b)
	}
	i++
	p, err := encode(good(i))
	require.NoError(t, err)
	payloads = append(payloads, p)
	appendPayloads(t, path, payloads)

	sink := &anySink[T]{}
	var dead notesOf
	pr, err := Open[T](path, sink, quiet(WithBatchSize(4), WithListener(DeadLettered, dead.listen))...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, pr.Flush(ctx))
	var gotN []int
	for _, v := range sink.got() {
		gotN = append(gotN, n(v))
	}
	require.Equal(t, seqN(1, i), gotN, "the good events, all of them, in order")
	st := pr.Stats()
	require.EqualValues(t, len(bad), st.DeadLettered)
	require.NoError(t, pr.Stop(ctx))
	require.Eventually(t, func() bool { return dead.count() == len(bad) }, 5*time.Second, time.Millisecond)
	for _, note := range dead.all() {
		require.Equal(t, 1, note.Count)
		require.ErrorIs(t, note.Err, ErrUndecodable)
	}

	inspect(t, path, func(s *wal.Stream) {
		dls := deadLetters(t, s)
		require.Len(t, dls, len(bad))
		for j, d := range dls {
			require.NoError(t, d.Err)
			require.True(t, strings.HasPrefix(d.Reason, "undecodable: "), d.Reason)
			require.NotContains(t, d.Reason, "\n")
			require.Equal(t, badPayloads[j], d.Record.Payload)
		}
		st := s.Stats()
		require.Zero(t, st.PendingEvents+st.InFlightEvents+st.InFlightBatches)
		require.EqualValues(t, len(bad), st.DeadEvents)
		var bytes int64
		for _, b := range badPayloads {
			bytes += int64(len(b))
		}
		require.Equal(t, bytes, st.DeadBytes)
	})
	rep, err := recovery.Verify(path, nil)
	require.NoError(t, err)
	require.Empty(t, rep.Problems)

	// A restart finds nothing to send again, and nothing crashes.
	sink2 := &anySink[T]{}
	pr, err = Open[T](path, sink2, quiet()...)
	require.NoError(t, err)
	require.NoError(t, pr.Flush(ctx))
	require.NoError(t, pr.Stop(ctx))
	require.Empty(t, sink2.got())
}

// notesOf collects notifications (helpers_test's notes is for tev).
type notesOf struct {
	mu  sync.Mutex
	got []Notification
}

func (n *notesOf) listen(note Notification) {
	n.mu.Lock()
	n.got = append(n.got, note)
	n.mu.Unlock()
}

func (n *notesOf) all() []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notification(nil), n.got...)
}

func (n *notesOf) count() int { return len(n.all()) }

// TestUndecodableEventsAloneGoToDeadLetters: payloads that are not msgpack
// or not of T's shape go to dead letters one by one; the rest of their
// batch is delivered (it was dead-lettered whole before).
func TestUndecodableEventsAloneGoToDeadLetters(t *testing.T) {
	noLeaks(t)
	bad := map[string][]byte{
		"never used code":     {0xc1},
		"a string, not a map": {0xa3, 'a', 'b', 'c'},
		"trailing byte":       {0x81, 0xa1, 'n', 0x01, 0x01},
	}
	undecodableRun(t, bad, func(i int) tev { return tev{N: i} }, func(v tev) int { return v.N })
}

// TestHostilePayloadsAnyAreDeadLettered: a Processor[any] given the
// payloads that made it die of OOM or stack overflow (and so crash-loop:
// recovery sends the batch again after every restart).
func TestHostilePayloadsAnyAreDeadLettered(t *testing.T) {
	noLeaks(t)
	undecodableRun(t, hostilePayloads, func(i int) any { return map[string]any{"n": i} },
		func(v any) int {
			n, _ := v.(map[string]any)["n"].(int8)
			return int(n)
		})
}

// TestHostilePayloadsNestedTypeAreDeadLettered: the same for a struct with
// slices, maps, nested structs and interfaces.
func TestHostilePayloadsNestedTypeAreDeadLettered(t *testing.T) {
	noLeaks(t)
	undecodableRun(t, hostilePayloads, func(i int) nestedEv {
		v := nestedEv{N: i, Tags: []string{"a"}, Attrs: map[string]any{"x": []any{1, "y"}}}
		v.Inner.List = []nestedItem{{M: map[string][]int{"k": {1, 2}}}}
		return v
	}, func(v nestedEv) int { return v.N })
}

// A batch of undecodable events only leaves nothing to send: the batch is
// gone, no dispatch, no retry.
func TestAllUndecodableBatch(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	appendPayloads(t, path, [][]byte{{0xc1}, {0xdd, 0xff, 0xff, 0xff, 0xff}})
	var calls int
	var mu sync.Mutex
	d := dispatcher.Func[any](func(context.Context, *dispatcher.Batch[any]) error {
		mu.Lock()
		calls++
		mu.Unlock()
		return errors.New("must not be called")
	})
	pr, err := Open[any](path, d, quiet()...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, pr.Flush(ctx))
	require.NoError(t, pr.Stop(ctx))
	mu.Lock()
	require.Zero(t, calls)
	mu.Unlock()
	inspect(t, path, func(s *wal.Stream) {
		require.Len(t, deadLetters(t, s), 2)
		st := s.Stats()
		require.Zero(t, st.PendingEvents+st.InFlightEvents+st.InFlightBatches)
	})
}

// Decoding a type with maps of slices and of structs leaves no goroutine
// behind (msgpack's preallocated values start one per type, forever).
func TestDecodeStartsNoGoroutine(t *testing.T) {
	noLeaks(t)
	d := getBatchDecoder()
	defer d.release()
	v := nestedEv{N: 1, Attrs: map[string]any{"a": 1}}
	v.Inner.List = []nestedItem{{M: map[string][]int{"k": {1}}}}
	b, err := encode(v)
	require.NoError(t, err)
	var got nestedEv
	require.NoError(t, decodeInto(d, nil, b, &got))
	require.Equal(t, v.Inner.List, got.Inner.List)
	type other struct{ M map[int]map[string]nestedItem }
	b, err = encode(other{M: map[int]map[string]nestedItem{1: {"x": {}}}})
	require.NoError(t, err)
	require.NoError(t, decodeInto(d, nil, b, new(other)))
}

// Enqueue refuses an event it could not decode at dispatch, writing
// nothing: a value nested past the depth limit, a RawMessage that is not
// one msgpack value. The limit itself is accepted and delivered.
func TestEnqueueRefusesUndecodableEncodings(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	nest := func(depth int) any {
		var v any = 1
		for range depth {
			v = []any{v}
		}
		return v
	}
	sink := &anySink[any]{}
	p, err := Open[any](path, sink, quiet()...)
	require.NoError(t, err)
	ctx := context.Background()
	require.ErrorIs(t, p.Enqueue(ctx, nest(101)), ErrUndecodable)
	require.ErrorIs(t, p.EnqueueMany(ctx, []any{1, nest(200)}), ErrUndecodable)
	require.NoError(t, p.Enqueue(ctx, nest(100)))
	require.NoError(t, p.Flush(ctx))
	require.Len(t, sink.got(), 1)
	require.NoError(t, p.Stop(ctx))

	raw, err := Open[msgpack.RawMessage](path, dispatcher.Func[msgpack.RawMessage](func(context.Context, *dispatcher.Batch[msgpack.RawMessage]) error { return nil }), quiet()...)
	require.NoError(t, err)
	require.ErrorIs(t, raw.Enqueue(ctx, msgpack.RawMessage{0xc1}), ErrUndecodable)
	require.ErrorIs(t, raw.Enqueue(ctx, msgpack.RawMessage{0xdd, 0xff, 0xff, 0xff, 0xff}), ErrUndecodable)
	require.NoError(t, raw.Enqueue(ctx, msgpack.RawMessage{0x01}))
	st := raw.Stream().Stats()
	require.EqualValues(t, 1, st.PendingEvents+st.InFlightEvents)
	require.NoError(t, raw.Stop(ctx))
}
