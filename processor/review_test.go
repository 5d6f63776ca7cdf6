package processor

import (
	"context"
	"math"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// Tags msgpack's tag parser reads differently from a plain cut at the first
// comma: it trims spaces and treats quotes and colons as syntax.
type oddTagEv struct {
	Type string `msgpack:"event:type"` // msgpack: no name (an option "event"), so "Type"
	Q    string `msgpack:"'q'"`        // msgpack: "q"
	S    string `msgpack:"s "`         // msgpack: "s"
	N    int    `msgpack:"n"`
}

// The fast codec writes the bytes msgpack writes, and what it writes
// decodes with msgpack to the same value, whatever the tags say.
func TestReviewFastCodecTagsAsMsgpackParsesThem(t *testing.T) {
	v := oddTagEv{Type: "click", Q: "q", S: "s", N: 7}
	slow := encodeMsgpack(t, &v)
	if plan := newFastPlan(reflect.TypeFor[oddTagEv]()); plan != nil {
		fast := plan.appendEncode(nil, unsafe.Pointer(&v))
		require.Equal(t, slow, fast, "the fast encoder writes msgpack's field names")
	}
	// End to end: what the processor wrote decodes with msgpack alone
	// (walctl, an older binary, any other reader of the file).
	sink := &collect[oddTagEv]{}
	path := walPath(t)
	p, err := Open[oddTagEv](path, sink, quiet(WithHandoff(HandoffOff), WithStartOnOpen(false))...)
	require.NoError(t, err)
	require.NoError(t, p.Enqueue(context.Background(), v))
	var got oddTagEv
	n := 0
	require.NoError(t, p.Stream().ForEachEvent(0, 0, func(r wal.Record, err error) error {
		n++
		require.NoError(t, err)
		return msgpack.Unmarshal(r.Payload, &got)
	}))
	require.Equal(t, 1, n)
	require.EqualValues(t, 1, requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream)).PendingEvents, "never started")
	require.Equal(t, v, got)
}

type f32Ev struct {
	F float32 `msgpack:"f"`
	G float32 `msgpack:"g"`
}

// msgpack converts a float32 through float64 on both ways (reflect's
// Float and SetFloat), which quiets a signalling NaN; the fast codec must
// write and read the same bits.
func TestReviewFastCodecFloat32NaNBits(t *testing.T) {
	plan := newFastPlan(reflect.TypeFor[f32Ev]())
	require.NotNil(t, plan)
	v := f32Ev{F: math.Float32frombits(0x7f800001), G: math.Float32frombits(0xffa00000)}
	slow := encodeMsgpack(t, &v)
	fast := plan.appendEncode(nil, unsafe.Pointer(&v))
	require.Equal(t, slow, fast, "encoded bytes")

	// Decode bytes holding signalling NaNs (as another writer may).
	raw := []byte{0x82, 0xa1, 'f', 0xca, 0x7f, 0x80, 0x00, 0x01, 0xa1, 'g', 0xca, 0xff, 0xa0, 0x00, 0x00}
	var want, got f32Ev
	require.NoError(t, msgpack.Unmarshal(raw, &want))
	require.True(t, plan.decode(string(raw), unsafe.Pointer(&got)))
	require.Equal(t, math.Float32bits(want.F), math.Float32bits(got.F))
	require.Equal(t, math.Float32bits(want.G), math.Float32bits(got.G))
}

// Types that roundTrips accepts but whose msgpack encoding does not decode
// to an equal value.

type dupNameEv struct { // two fields, one msgpack name: the last one gets both values
	Name  string
	Label string `msgpack:"Name"`
}

type ReviewBase struct{ ID string }

type shadowEv struct { // Go shadows ReviewBase.ID; msgpack encodes "ID" twice
	ReviewBase
	ID string
}

type quotedSkipEv struct { // msgpack reads the quoted '-' as "-": never encoded
	A string
	B string `msgpack:"'-'"`
}

type emptyOmitEv struct { // an empty, non-nil slice or map is omitted: decodes as nil
	ID   string            `msgpack:"id"`
	Tags []string          `msgpack:"tags,omitempty"`
	M    map[string]string `msgpack:"m,omitempty"`
}

type ptrToNilEv struct { // a pointer to a nil slice encodes as nil: decodes as a nil pointer
	ID string
	L  *[]string
}

// handoffAgrees enqueues evs under mode and under HandoffOff and checks
// that the dispatcher saw the same values (or that Open refused the mode
// for T, which HandoffOwned must do for a T that does not round-trip).
func handoffAgrees[T any](t *testing.T, mode Handoff, evs []T) {
	t.Helper()
	run := func(mode Handoff) ([]T, Stats, error) {
		sink := &collect[T]{}
		p, err := Open[T](walPath(t), sink, quiet(WithBatchSize(len(evs)), WithHandoff(mode))...)
		if err != nil {
			return nil, Stats{}, err
		}
		require.NoError(t, p.EnqueueMany(context.Background(), evs))
		require.NoError(t, p.Flush(context.Background()))
		st := p.Stats()
		require.NoError(t, p.Stop(context.Background()))
		var got []T
		for _, a := range sink.all() {
			got = append(got, a...)
		}
		return got, st, nil
	}
	decoded, _, err := run(HandoffOff)
	require.NoError(t, err)
	require.Len(t, decoded, len(evs))
	handed, st, err := run(mode)
	if err != nil {
		require.Equal(t, HandoffOwned, mode, "only HandoffOwned refuses a type")
		require.ErrorIs(t, err, ErrInvalidOption)
		return
	}
	if st.HandedOff == 0 {
		return // decoded: the same by construction
	}
	require.True(t, reflect.DeepEqual(decoded, handed), "handed off %#v\ndecoded %#v", handed, decoded)
}

func TestReviewHandoffOnlyForTypesThatRoundTrip(t *testing.T) {
	noLeaks(t)
	for _, typ := range []reflect.Type{reflect.TypeFor[dupNameEv](), reflect.TypeFor[shadowEv](),
		reflect.TypeFor[quotedSkipEv](), reflect.TypeFor[emptyOmitEv](), reflect.TypeFor[ptrToNilEv]()} {
		_, why := roundTrips(typ, nil)
		require.NotEmpty(t, why, "%s does not round-trip", typ)
	}
	t.Run("duplicate name", func(t *testing.T) {
		handoffAgrees(t, HandoffAuto, []dupNameEv{{Name: "n", Label: "l"}})
	})
	t.Run("shadowed embedded field", func(t *testing.T) {
		handoffAgrees(t, HandoffAuto, []shadowEv{{ReviewBase: ReviewBase{ID: "base"}, ID: "outer"}})
	})
	t.Run("quoted skip tag", func(t *testing.T) {
		handoffAgrees(t, HandoffAuto, []quotedSkipEv{{A: "a", B: "b"}})
	})
	t.Run("omitempty empty slice and map", func(t *testing.T) {
		handoffAgrees(t, HandoffOwned, []emptyOmitEv{{ID: "a", Tags: []string{}, M: map[string]string{}}})
	})
	t.Run("pointer to nil slice", func(t *testing.T) {
		empty := []string(nil)
		handoffAgrees(t, HandoffOwned, []ptrToNilEv{{ID: "a", L: &empty}})
	})
}

type internEv struct {
	N int    `msgpack:"n"`
	U string `msgpack:"u,intern"`
}

// msgpack's "intern" option makes an Encoder remember strings and write
// a later occurrence as an index into its dictionary. The processor's
// encoders are pooled and reused across events, and each event is
// decoded alone: an event must not refer to a string of an earlier one.
func TestReviewInternedStringsDecodeAlone(t *testing.T) {
	noLeaks(t)
	sink := &collect[internEv]{}
	p, err := Open[internEv](walPath(t), sink, quiet(WithBatchSize(4), WithHandoff(HandoffOff))...)
	require.NoError(t, err)
	evs := []internEv{{1, "page_view"}, {2, "page_view"}}
	require.NoError(t, p.EnqueueMany(context.Background(), evs))
	require.NoError(t, p.Enqueue(context.Background(), internEv{3, "page_view"}))
	require.NoError(t, p.Flush(context.Background()))
	st := p.Stats()
	require.NoError(t, p.Stop(context.Background()))
	require.Zero(t, st.DeadEvents, "events dead-lettered as undecodable")
	var got []internEv
	for _, a := range sink.all() {
		got = append(got, a...)
	}
	require.Equal(t, append(evs, internEv{3, "page_view"}), got)
}

// An encoder whose buffer grew past 1 MiB gets a new buffer on release;
// it must keep writing compact integers, as every other pooled encoder.
func TestReviewReleasedEncoderKeepsCompactInts(t *testing.T) {
	for range 100 {
		e := getEncoder()
		e.buf.Grow(2 << 20)
		e.release()
		got := encPool.Get().(*encoder) // the pool may drop e (it does at random under -race)
		if got != e {
			encPool.Put(got)
			continue
		}
		got.buf.Reset()
		require.NoError(t, got.enc.Encode(int64(5)))
		require.Equal(t, []byte{5}, got.buf.Bytes(), "a compact int")
		got.release()
		return
	}
	t.Skip("the pool never gave the encoder back")
}

// A factory that panics (the caller recovers, as net/http does for a
// handler) must leave the stream creatable: the next caller runs the
// factory again instead of waiting forever for a creation that ended.
func TestReviewManagerFactoryPanic(t *testing.T) {
	noLeaks(t)
	var calls atomic.Int32
	factory := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		if calls.Add(1) == 1 {
			panic("config not loaded")
		}
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return nil }), quiet(), nil
	}
	m, err := OpenManager[int](walPath(t), factory, time.Hour, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Stop(context.Background())) }()
	func() {
		defer func() { require.NotNil(t, recover()) }()
		_ = m.Enqueue(context.Background(), "s", 1)
	}()
	done := make(chan error, 1)
	go func() { done <- m.Enqueue(context.Background(), "s", 2) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		// Unblock the spinning caller so the test can end.
		_ = m.Stop(context.Background())
		<-done
		t.Fatal("the second Enqueue never returned")
	}
	require.Equal(t, int32(2), calls.Load())
}

// A callback that ends its goroutine with runtime.Goexit (t.FailNow in a
// test's callback, for one) is not a panic: the callbacks after it must
// still run, and Stop must not wait forever for them.
func TestReviewEnqueueAsyncCallbackGoexit(t *testing.T) {
	noLeaks(t)
	p := openP(t, walPath(t), newRecSink(nil), quiet()...)
	var ran atomic.Int32
	release := make(chan struct{})
	// Queue all three before the first callback runs, so they share one
	// goroutine's batch.
	require.NoError(t, p.EnqueueAsync(tev{N: 1}, func(error) { <-release; ran.Add(1); runtime.Goexit() }))
	require.NoError(t, p.EnqueueAsync(tev{N: 2}, func(error) { ran.Add(1) }))
	time.Sleep(50 * time.Millisecond)
	close(release)
	require.NoError(t, p.EnqueueAsync(tev{N: 3}, func(error) { ran.Add(1) }))
	require.Eventually(t, func() bool { return ran.Load() == 3 }, 5*time.Second, time.Millisecond,
		"callbacks after the one that called Goexit")
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Stop waits forever")
	}
}

// msgpack has no encoder or decoder for a uintptr and panics on one; the
// processor's promise is an error, never a panic.
type uintptrEv struct {
	ID string  `msgpack:"id"`
	P  uintptr `msgpack:"p"`
}

type uintptrAsString struct {
	ID string `msgpack:"id"`
	P  string `msgpack:"p"`
}

func TestReviewUnsupportedFieldIsAnErrorNotAPanic(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	p, err := Open[uintptrEv](path, &collect[uintptrEv]{}, quiet(WithStartOnOpen(false))...)
	require.NoError(t, err)
	require.NotPanics(t, func() { err = p.Enqueue(context.Background(), uintptrEv{ID: "a", P: 1}) })
	require.Error(t, err)
	require.NotPanics(t, func() { err = p.EnqueueMany(context.Background(), []uintptrEv{{ID: "a"}}) })
	require.Error(t, err)
	require.NotPanics(t, func() { err = p.EnqueueAsync(uintptrEv{ID: "a"}, func(error) {}) })
	require.Error(t, err)
	require.NoError(t, p.Stop(context.Background()))

	// A record written under another type (an older version of the event)
	// that reaches the field: dead-lettered, not a crash of the dispatch
	// goroutine.
	old, err := Open[uintptrAsString](path, &collect[uintptrAsString]{}, quiet(WithStartOnOpen(false))...)
	require.NoError(t, err)
	require.NoError(t, old.Enqueue(context.Background(), uintptrAsString{ID: "a", P: "x"}))
	require.EqualValues(t, 1, requireLeft(t, old.Stop(context.Background()), leftIn(t, path, DefaultStream)).PendingEvents, "never started")
	sink := &collect[uintptrEv]{}
	p, err = Open[uintptrEv](path, sink, quiet(WithHandoff(HandoffOff))...)
	require.NoError(t, err)
	require.NoError(t, p.Flush(context.Background()))
	require.Equal(t, int64(1), p.Stats().DeadEvents)
	require.NoError(t, p.Stop(context.Background()))
	require.Empty(t, sink.all())
}
