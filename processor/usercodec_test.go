package processor

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// jsonCodec stores events as encoding/json does.
type jsonCodec[T any] struct{}

func (jsonCodec[T]) ContentType() string            { return "application/json" }
func (jsonCodec[T]) Marshal(v T) ([]byte, error)    { return json.Marshal(v) }
func (jsonCodec[T]) Unmarshal(b []byte, v *T) error { return json.Unmarshal(b, v) }

// binCodec is a protobuf-like binary encoding of tev: field 1 N as a
// zigzag varint, field 2 K as a length-prefixed string. Unmarshal checks
// every length against the payload.
type binCodec struct{}

func (binCodec) ContentType() string { return "application/x-protobuf" }

func (binCodec) Marshal(v tev) ([]byte, error) {
	b := binary.AppendVarint([]byte{1}, int64(v.N))
	b = append(b, 2)
	b = binary.AppendUvarint(b, uint64(len(v.K)))
	return append(b, v.K...), nil
}

var errBin = errors.New("bin: malformed")

func (binCodec) Unmarshal(b []byte, v *tev) error {
	for len(b) > 0 {
		tag := b[0]
		b = b[1:]
		switch tag {
		case 1:
			n, k := binary.Varint(b)
			if k <= 0 {
				return errBin
			}
			v.N, b = int(n), b[k:]
		case 2:
			n, k := binary.Uvarint(b)
			if k <= 0 || n > uint64(len(b)-k) {
				return errBin
			}
			v.K, b = string(b[k:k+int(n)]), b[k+int(n):]
		default:
			return fmt.Errorf("%w: field %d", errBin, tag)
		}
	}
	return nil
}

// payloadSink records each dispatched event's value and payload, and
// refuses odd events for good (batches of 1).
type payloadSink struct {
	mu       sync.Mutex
	vals     []tev
	payloads [][]byte
}

func (s *payloadSink) Dispatch(_ context.Context, b *dispatcher.Batch[tev]) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range b.Events {
		s.vals = append(s.vals, e.Value)
		s.payloads = append(s.payloads, append([]byte(nil), e.Payload...))
	}
	if b.Events[0].Value.N%2 == 1 {
		return errBadEvent
	}
	return nil
}

// A user codec stores events as it encodes them, and the processor gives
// them back through it: to the dispatcher (value and payload) and in
// DeadLetters, for Enqueue, EnqueueMany and EnqueueAsync alike; the stream
// records the codec, and a restart with the same codec reads them again.
func TestUserCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec Codec[tev]
	}{{"json", jsonCodec[tev]{}}, {"binary", binCodec{}}} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			path := walPath(t)
			sink := &payloadSink{}
			opts := quiet(WithBatchSize(1), WithMaxRetries(0), WithCodec(tc.codec))
			p, err := Open[tev](path, sink, opts...)
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, p.Enqueue(ctx, tev{N: 0, K: "a"}))
			require.NoError(t, p.EnqueueMany(ctx, []tev{{N: 1, K: "b"}, {N: 2, K: "c"}}))
			done := make(chan error, 1)
			require.NoError(t, p.EnqueueAsync(tev{N: 3, K: "d"}, func(err error) { done <- err }))
			require.NoError(t, <-done)
			require.NoError(t, p.Drain(ctx))
			require.Equal(t, tc.codec.ContentType(), p.Stream().Codec())
			require.Zero(t, p.Stats().HandedOff, "a user codec has no handoff: every value is decoded")

			sink.mu.Lock()
			vals, payloads := sink.vals, sink.payloads
			sink.mu.Unlock()
			require.Equal(t, []tev{{N: 0, K: "a"}, {N: 1, K: "b"}, {N: 2, K: "c"}, {N: 3, K: "d"}}, vals)
			for i, v := range vals {
				want, err := tc.codec.Marshal(v)
				require.NoError(t, err)
				require.Equal(t, want, payloads[i], "event %d is stored as the codec encodes it", i)
			}

			dls := deadOf(t, p)
			require.Len(t, dls, 2)
			for i, want := range []tev{{N: 1, K: "b"}, {N: 3, K: "d"}} {
				require.NoError(t, dls[i].Err)
				require.Equal(t, want, dls[i].Value)
				enc, _ := tc.codec.Marshal(want)
				require.Equal(t, enc, dls[i].Payload)
			}
			n, err := p.RequeueAllDead()
			require.NoError(t, err)
			require.Equal(t, 2, n)
			require.NoError(t, p.Drain(ctx))
			sink.mu.Lock()
			require.Equal(t, []tev{{N: 1, K: "b"}, {N: 3, K: "d"}}, sink.vals[4:], "requeued, decoded again")
			sink.mu.Unlock()
			require.NoError(t, p.Stop(ctx))

			// After a restart with the same codec, the dead letters decode.
			p2, err := Open[tev](path, sink, opts...)
			require.NoError(t, err)
			dls = deadOf(t, p2)
			require.NoError(t, p2.Stop(ctx))
			require.Len(t, dls, 2)
			require.Equal(t, tev{N: 3, K: "d"}, dls[1].Value)
		})
	}
}

// The default codec, and MsgpackCodec given explicitly, record nothing in
// the stream (as files written before codecs were recorded) and keep
// msgpack's fast codec and handoff.
func TestMsgpackCodecIsTheDefault(t *testing.T) {
	noLeaks(t)
	for _, opts := range [][]Option{nil, {WithCodec(MsgpackCodec[tev]())}} {
		path := walPath(t)
		p := openP(t, path, newRecSink(nil), quiet(opts...)...)
		require.Nil(t, p.codec)
		require.NotNil(t, p.fast)
		require.NotNil(t, p.hot)
		enqueueN(t, p, 0, 3)
		require.NoError(t, p.Drain(context.Background()))
		require.Equal(t, "", p.Stream().Codec())
		require.NoError(t, p.Stop(context.Background()))
	}
	c := MsgpackCodec[tev]()
	b, err := c.Marshal(tev{N: 7, K: "x"})
	require.NoError(t, err)
	var v tev
	require.NoError(t, c.Unmarshal(b, &v))
	require.Equal(t, tev{N: 7, K: "x"}, v)
	require.Error(t, c.Unmarshal([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, &v))
}

// A stream holding events of one codec is refused to a processor with
// another (they would not decode); an empty stream takes the new codec.
func TestCodecChangeOnlyOnAnEmptyStream(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	path := walPath(t)
	// Events written by msgpack (no record) are refused to JSON.
	p := openP(t, path, newRecSink(nil), quiet(WithStartOnOpen(false))...)
	require.NoError(t, p.Enqueue(ctx, tev{N: 1}))
	require.EqualValues(t, 1, requireLeft(t, p.Stop(ctx), leftIn(t, path, DefaultStream)).PendingEvents)
	_, err := Open[tev](path, newRecSink(nil), quiet(WithCodec(jsonCodec[tev]{}))...)
	require.ErrorIs(t, err, ErrInvalidOption)
	require.ErrorContains(t, err, "application/msgpack")

	// Drained, the stream takes JSON and records it.
	p = openP(t, path, newRecSink(nil), quiet()...)
	require.NoError(t, p.Drain(ctx))
	require.NoError(t, p.Stop(ctx))
	pj, err := Open[tev](path, newRecSink(nil), quiet(WithCodec(jsonCodec[tev]{}), WithStartOnOpen(false))...)
	require.NoError(t, err)
	require.NoError(t, pj.Enqueue(ctx, tev{N: 2}))
	require.EqualValues(t, 1, requireLeft(t, pj.Stop(ctx), leftIn(t, path, DefaultStream)).PendingEvents)
	inspect(t, path, func(s *wal.Stream) { require.Equal(t, "application/json", s.Codec()) })

	// JSON events pending: msgpack and the binary codec are refused,
	// dead letters count as events too.
	for _, opts := range [][]Option{nil, {WithCodec(binCodec{})}} {
		_, err := Open[tev](path, newRecSink(nil), quiet(opts...)...)
		require.ErrorIs(t, err, ErrInvalidOption)
		require.ErrorContains(t, err, "application/json")
	}
	pj, err = Open[tev](path, newRecSink(failing), quiet(WithCodec(jsonCodec[tev]{}), WithMaxRetries(0))...)
	require.NoError(t, err)
	require.NoError(t, pj.Drain(ctx))
	require.NoError(t, pj.Stop(ctx), "a dead letter is not left undelivered")
	_, err = Open[tev](path, newRecSink(nil), quiet()...)
	require.ErrorIs(t, err, ErrInvalidOption, "a dead letter of the JSON codec")

	// Purged, msgpack takes the stream back: the record is removed.
	pj, err = Open[tev](path, newRecSink(nil), quiet(WithCodec(jsonCodec[tev]{}))...)
	require.NoError(t, err)
	_, err = pj.PurgeAllDead()
	require.NoError(t, err)
	require.NoError(t, pj.Stop(ctx))
	p = openP(t, path, newRecSink(nil), quiet()...)
	require.Equal(t, "", p.Stream().Codec())
}

// faultyCodec fails or panics as told.
type faultyCodec struct {
	marshalErr, marshalPanic, unmarshalPanic bool
}

var errMarshal = errors.New("cannot marshal")

func (faultyCodec) ContentType() string { return "application/x-faulty" }

func (c faultyCodec) Marshal(v tev) ([]byte, error) {
	switch {
	case c.marshalErr && v.N < 0:
		return nil, errMarshal
	case c.marshalPanic && v.N < 0:
		panic("marshal boom")
	}
	return binCodec{}.Marshal(v)
}

func (c faultyCodec) Unmarshal(b []byte, v *tev) error {
	if err := (binCodec{}).Unmarshal(b, v); err != nil {
		return err
	}
	if c.unmarshalPanic && v.N%2 == 1 {
		var m map[string]int
		//lint:ignore SA5000 a runtime panic, as a buggy decoder would make
		m["nil map"] = 1
	}
	return nil
}

// A codec's Marshal error or panic is an error from every enqueue call,
// and nothing is written; an Unmarshal panic makes its event undecodable:
// it goes to dead letters alone and DeadLetters reports it.
func TestUserCodecFaults(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	for _, c := range []faultyCodec{{marshalErr: true}, {marshalPanic: true}} {
		p := openP(t, walPath(t), newRecSink(nil), quiet(WithCodec(c))...)
		bad := tev{N: -1}
		errs := []error{
			p.Enqueue(ctx, bad),
			p.TryEnqueue(bad),
			p.EnqueueMany(ctx, []tev{{N: 1}, bad}),
			p.EnqueueAsync(bad, func(error) { t.Error("callback of a refused event") }),
		}
		for i, err := range errs {
			require.Error(t, err, "call %d", i)
			if c.marshalErr {
				require.ErrorIs(t, err, errMarshal, "call %d", i)
			} else {
				require.ErrorContains(t, err, "Marshal panicked: marshal boom", "call %d", i)
			}
		}
		require.Zero(t, p.Stream().Stats().PendingEvents, "nothing of a refused call is written")
		require.NoError(t, p.Stop(ctx))
	}

	sink := newRecSink(nil)
	p := openP(t, walPath(t), sink, quiet(WithCodec(faultyCodec{unmarshalPanic: true}))...)
	require.NoError(t, p.EnqueueMany(ctx, []tev{{N: 0}, {N: 1}, {N: 2}}))
	require.NoError(t, p.Drain(ctx))
	require.Equal(t, []int{0, 2}, sink.delivered())
	dls := deadOf(t, p)
	require.Len(t, dls, 1)
	require.ErrorIs(t, dls[0].Err, ErrUndecodable)
	require.ErrorContains(t, dls[0].Err, "Unmarshal panicked")
	require.Contains(t, dls[0].Reason, "undecodable: codec application/x-faulty: Unmarshal panicked")
}

// A hostile payload in a user codec's stream reaches its Unmarshal as it
// is, and an error from it makes the event undecodable.
func TestUserCodecUndecodablePayload(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	p := openP(t, path, newRecSink(nil), quiet(WithCodec(binCodec{}), WithStartOnOpen(false))...)
	require.NoError(t, p.Enqueue(context.Background(), tev{N: 4}))
	require.EqualValues(t, 1, requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream)).PendingEvents)
	appendPayloads(t, path, [][]byte{{2, 0xff, 0xff, 0xff, 0xff, 0x0f}, {9}})
	sink := newRecSink(nil)
	p = openP(t, path, sink, quiet(WithCodec(binCodec{}))...)
	require.NoError(t, p.Drain(context.Background()))
	require.Equal(t, []int{4}, sink.delivered())
	dls := deadOf(t, p)
	require.Len(t, dls, 2)
	for _, d := range dls {
		require.ErrorIs(t, d.Err, ErrUndecodable)
		require.ErrorContains(t, d.Err, "codec application/x-protobuf")
	}
}

// WithCodec refuses what is not a usable Codec of T.
func TestWithCodecInvalid(t *testing.T) {
	noLeaks(t)
	var nilCodec *jsonCodec[tev]
	cases := map[string][]Option{
		"nil":              {WithCodec(nil)},
		"nil pointer":      {WithCodec(nilCodec)},
		"other T":          {WithCodec(jsonCodec[int]{})},
		"not a codec":      {WithCodec("json")},
		"no content type":  {WithCodec(namedCodec{""})},
		"control byte":     {WithCodec(namedCodec{"application/json\n"})},
		"too long":         {WithCodec(namedCodec{string(make([]byte, 256))})},
		"reserved msgpack": {WithCodec(namedCodec{MsgpackContentType})},
		"handoff owned":    {WithCodec(jsonCodec[tev]{}), WithHandoff(HandoffOwned)},
	}
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		_, err := Open[tev](walPath(t), newRecSink(nil), cases[name]...)
		require.ErrorIs(t, err, ErrInvalidOption, name)
	}
}

type namedCodec struct{ name string }

func (c namedCodec) ContentType() string            { return c.name }
func (namedCodec) Marshal(v tev) ([]byte, error)    { return json.Marshal(v) }
func (namedCodec) Unmarshal(b []byte, v *tev) error { return json.Unmarshal(b, v) }
