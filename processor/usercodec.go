package processor

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/walbatch/walbatch/wal"
)

// Codec encodes events of type T for the WAL and decodes them back. The
// default is msgpack (MsgpackCodec); WithCodec sets another, so a service
// whose events are JSON or protobuf stores them as they are, and its
// dispatcher can send Event.Payload without encoding again.
//
// ContentType names the encoding: the processor records it in the
// stream's metadata when it opens the stream, and walctl dump and dead
// choose how to show payloads by it ("application/json", or a type ending
// in "+json", shows them as JSON; any other type but msgpack as base64).
// It must be printable ASCII of at most 255 bytes, the same for every
// call.
//
// Marshal's result is copied before Enqueue returns: Marshal may return a
// buffer it reuses. Unmarshal is given a payload read from the file, into
// a *T holding T's zero value; it must be safe on any bytes, hostile ones
// included (a damaged or crafted file): it must not hang, and should
// bound what it allocates by the payload's size. The processor checks
// nothing for it (msgpack payloads are checked by the processor before
// msgpack sees them). An error or a panic from Unmarshal makes the event
// undecodable (ErrUndecodable: the event goes to dead letters alone, and
// DeadLetters reports it in DeadLetter.Err); an error or a panic from
// Marshal is an error from Enqueue, EnqueueMany or EnqueueAsync, and
// nothing is written. Both may be called from several goroutines at once.
type Codec[T any] interface {
	ContentType() string
	Marshal(v T) ([]byte, error)
	Unmarshal(b []byte, v *T) error
}

// MsgpackContentType is the content type of the default codec. A stream
// with no recorded codec (wal.Stream.Codec returns "") is msgpack.
const MsgpackContentType = "application/msgpack"

// MsgpackCodec returns the default codec: msgpack, with compact integers,
// as the processor encodes events without WithCodec. Passing it to
// WithCodec is the same as not passing WithCodec: the processor keeps
// msgpack's own optimisations (the fast codec, the handoff; see Handoff).
func MsgpackCodec[T any]() Codec[T] { return msgpackCodec[T]{} }

type msgpackCodec[T any] struct{}

func (msgpackCodec[T]) ContentType() string         { return MsgpackContentType }
func (msgpackCodec[T]) Marshal(v T) ([]byte, error) { return encode(v) }
func (msgpackCodec[T]) Unmarshal(b []byte, v *T) error {
	d := getBatchDecoder()
	defer d.release()
	return decodeInto(d, nil, b, v)
}

// WithCodec sets the codec events are stored with (see Codec). Default
// msgpack. The option is not generic: Open, New and the Manager refuse,
// with ErrInvalidOption, a codec that is nil, is not a Codec of the
// processor's T, or whose content type is not printable ASCII of 1 to 255
// bytes.
//
// With a codec other than msgpack, events are always decoded with its
// Unmarshal on dispatch: the handoff is off under HandoffAuto, and
// HandoffOwned is refused with ErrInvalidOption, because the processor
// cannot check that Unmarshal gives back a value equal to the one
// enqueued.
//
// A stream records its codec's content type when a processor opens it.
// Opening a stream recorded with another codec is refused with
// ErrInvalidOption while the stream holds events (pending, in flight or
// dead letters): they would not decode. A stream holding none takes the
// new codec and records it. A stream with no record is msgpack.
func WithCodec(codec any) Option {
	return optionFunc(func(c *config) { c.codec, c.codecSet = codec, true })
}

// userCodec is a codec other than msgpack, with its calls made safe: a
// panic is an error.
type userCodec[T any] struct {
	c    Codec[T]
	name string
}

// resolveCodec returns the user codec of cfg, nil for msgpack, or
// ErrInvalidOption.
func resolveCodec[T any](cfg *config) (*userCodec[T], error) {
	if !cfg.codecSet {
		return nil, nil
	}
	if cfg.codec == nil || (reflect.ValueOf(cfg.codec).Kind() == reflect.Pointer && reflect.ValueOf(cfg.codec).IsNil()) {
		return nil, fmt.Errorf("%w: WithCodec: the codec must not be nil", ErrInvalidOption)
	}
	c, ok := cfg.codec.(Codec[T])
	if !ok {
		return nil, fmt.Errorf("%w: WithCodec: %T is not a processor.Codec[%s]", ErrInvalidOption, cfg.codec, reflect.TypeFor[T]())
	}
	if _, ok := c.(msgpackCodec[T]); ok {
		return nil, nil
	}
	name, err := safeContentType(c)
	if err != nil {
		return nil, err
	}
	if name == MsgpackContentType {
		return nil, fmt.Errorf("%w: WithCodec: %T names itself %s, which walbatch reserves for MsgpackCodec", ErrInvalidOption, c, name)
	}
	if name == "" || len(name) > wal.MaxCodecLen {
		return nil, fmt.Errorf("%w: WithCodec: content type %q of %T must be 1 to %d bytes", ErrInvalidOption, name, c, wal.MaxCodecLen)
	}
	for i := range len(name) {
		if name[i] < 0x20 || name[i] > 0x7e {
			return nil, fmt.Errorf("%w: WithCodec: content type %q of %T is not printable ASCII", ErrInvalidOption, name, c)
		}
	}
	return &userCodec[T]{c: c, name: name}, nil
}

// contentType is the codec's name; msgpack's for a nil u.
func (u *userCodec[T]) contentType() string {
	if u == nil {
		return MsgpackContentType
	}
	return u.name
}

// newCodecHandoff is newHandoff for the codec: with a user codec, no
// handoff (see WithCodec).
func newCodecHandoff[T any](u *userCodec[T], mode Handoff, batchSize int) (*handoff[T], error) {
	if u == nil {
		return newHandoff[T](mode, batchSize)
	}
	if mode == HandoffOwned {
		return nil, fmt.Errorf("%w: HandoffOwned: the processor cannot check that codec %s decodes to an equal value; with WithCodec, events are always decoded", ErrInvalidOption, u.name)
	}
	return nil, nil
}

// fastPlanFor returns the fast codec's plan for T under msgpack; none
// with a user codec.
func fastPlanFor[T any](u *userCodec[T]) *fastPlan {
	if u != nil {
		return nil
	}
	return newFastPlan(reflect.TypeFor[T]())
}

func safeContentType[T any](c Codec[T]) (name string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: WithCodec: ContentType of %T panicked: %v", ErrInvalidOption, c, r)
		}
	}()
	return c.ContentType(), nil
}

func (u *userCodec[T]) marshal(v T) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("codec %s: Marshal panicked: %v", u.name, r)
		}
	}()
	b, err = u.c.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec %s: %w", u.name, err)
	}
	return b, nil
}

func (u *userCodec[T]) unmarshal(b []byte, v *T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("codec %s: Unmarshal panicked: %v", u.name, r)
		}
	}()
	if err := u.c.Unmarshal(b, v); err != nil {
		return fmt.Errorf("codec %s: %w", u.name, err)
	}
	return nil
}

// errStreamCodec is wrapped with ErrInvalidOption when a stream holds
// events of another codec.
var errStreamCodec = errors.New("the stream holds events of another codec")

// adoptStreamCodec records the processor's codec in its stream, or refuses
// the stream when it holds events of another codec (see WithCodec).
func adoptStreamCodec(s *wal.Stream, name string) error {
	if name == MsgpackContentType {
		name = "" // no record is msgpack: files stay as older versions wrote them
	}
	stored := s.Codec()
	if stored == name {
		return nil
	}
	st := s.Stats()
	if n := st.PendingEvents + st.InFlightEvents + st.DeadEvents; n > 0 {
		was := stored
		if was == "" {
			was = MsgpackContentType
		}
		now := name
		if now == "" {
			now = MsgpackContentType
		}
		return fmt.Errorf("%w: stream %q: %w: %d events recorded as %s, the processor's codec is %s; drain or purge them with the old codec first",
			ErrInvalidOption, s.Name(), errStreamCodec, n, was, now)
	}
	if err := s.SetCodec(name); err != nil {
		return fmt.Errorf("processor: %w", err)
	}
	return nil
}

// encodeEvent encodes ev into e's buffer with the processor's codec (see
// encodeOne for msgpack). A user codec's encoding is its own slice.
func (p *Processor[T]) encodeEvent(e *encoder, ev T) ([]byte, error) {
	if p.codec != nil {
		return p.codec.marshal(ev)
	}
	return p.encodeMsgpack(e, ev)
}

// encodeEvents is encodeMany with the processor's codec.
func (p *Processor[T]) encodeEvents(e *encoder, evs []T, fn func(i int, payload []byte) error) error {
	if p.codec == nil {
		return encodeMany(e, evs, p.encByPtr, p.fast, fn)
	}
	for i := range evs {
		b, err := p.codec.marshal(evs[i])
		if err != nil {
			return fmt.Errorf("processor: encode event %d: %w", i, err)
		}
		if err := fn(i, b); err != nil {
			return err
		}
	}
	return nil
}

// decodeEvent decodes b into *v (T's zero value) with the processor's
// codec: decodeInto for msgpack.
func (p *Processor[T]) decodeEvent(d *batchDecoder, b []byte, v *T) error {
	if p.codec != nil {
		return p.codec.unmarshal(b, v)
	}
	return decodeInto(d, p.fast, b, v)
}
