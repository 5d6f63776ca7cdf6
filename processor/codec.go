package processor

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/internal/msgpackcheck"
)

// Events are stored as their msgpack encoding. Encoders are pooled: the
// encoding runs on the caller's goroutine, outside the group commit.
var encPool = sync.Pool{New: func() any {
	buf := new(bytes.Buffer)
	enc := msgpack.NewEncoder(buf)
	enc.UseCompactInts(true)
	return &encoder{buf: buf, enc: enc}
}}

type encoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// getEncoder returns a pooled encoder with an empty buffer.
func getEncoder() *encoder {
	e := encPool.Get().(*encoder)
	e.buf.Reset()
	return e
}

// release returns e to the pool; slices of its buffer must not be used
// after it.
func (e *encoder) release() {
	if e.buf.Cap() > 1<<20 {
		e.buf = new(bytes.Buffer)
		e.enc.ResetWriter(e.buf) // not Reset: it would clear UseCompactInts
	}
	encPool.Put(e)
}

// encodeOne encodes v into e's buffer (after what it holds) and returns the
// encoding, a slice of the buffer valid until e is reset or released. The
// WAL copies payloads before its append calls return, so the encoding goes
// from this buffer straight into the record: no copy of its own. byPtr is
// encodeByPointer[T]().
func encodeOne[T any](e *encoder, v *T, byPtr bool, fast *fastPlan) ([]byte, error) {
	start := e.buf.Len()
	if fast != nil {
		e.buf.Write(fast.appendEncode(e.buf.AvailableBuffer(), unsafe.Pointer(v)))
	} else if err := encodeValue(e, v, byPtr); err != nil {
		return nil, err
	}
	b := e.buf.Bytes()
	return b[start:len(b):len(b)], nil
}

// encodeValue encodes *v exactly as enc.Encode(*v) would. With byPtr it
// passes the pointer: passing a T by value boxes a copy of it (an
// allocation per event for a struct). []byte takes msgpack's direct path.
// Each event is decoded alone: the dictionary of msgpack's "intern" tag
// option (a string written as an index after its first occurrence) must
// start empty for each, not live on in the pooled encoder.
//
// msgpack panics on some types instead of returning an error (a uintptr
// field, the intern option on a field that is not a string): that is an
// error here too, never a panic in the caller of Enqueue.
//
// An encoding the processor could not decode at dispatch (nested deeper
// than msgpackcheck.MaxDepth, or a msgpack.RawMessage that is not one
// well-formed value) is refused here with ErrUndecodable, so Enqueue never
// acknowledges an event only to dead-letter it.
func encodeValue[T any](e *encoder, v *T, byPtr bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack: %v", r)
		}
	}()
	start := e.buf.Len()
	enc := e.enc
	enc.ResetWriter(e.buf) // clears the dictionary, keeps the options
	if b, ok := any(v).(*[]byte); ok {
		return enc.EncodeBytes(*b)
	}
	if byPtr {
		err = enc.Encode(v)
	} else {
		err = enc.Encode(*v)
	}
	if err == nil {
		if cerr := msgpackcheck.Check(e.buf.Bytes()[start:]); cerr != nil {
			err = fmt.Errorf("%w: its encoding would not decode: %v", ErrUndecodable, cerr)
		}
	}
	return err
}

// encodeByPointer reports whether T is best encoded through a pointer. It
// is, unless T is a struct with omitempty fields (its own or those of
// struct fields it holds by value): msgpack tests such a field through
// reflect.Value.Interface, which copies the field to the heap when the
// struct is addressable, as it is behind a pointer: one allocation per
// omitempty field instead of one for the boxed copy.
func encodeByPointer[T any]() bool {
	t := reflect.TypeFor[T]()
	return t.Kind() != reflect.Struct || !hasOmitEmpty(t, 0)
}

func hasOmitEmpty(t reflect.Type, depth int) bool {
	if depth > 16 {
		return true
	}
	for i := range t.NumField() {
		f := t.Field(i)
		for _, key := range []string{"msgpack", "json"} {
			if _, opts, _ := strings.Cut(f.Tag.Get(key), ","); strings.Contains(opts, "omitempty") {
				return true
			}
		}
		if f.Type.Kind() == reflect.Struct && hasOmitEmpty(f.Type, depth+1) {
			return true
		}
	}
	return false
}

// encode returns the msgpack encoding of v in a new slice.
func encode[T any](v T) ([]byte, error) {
	e := getEncoder()
	defer e.release()
	b, err := encodeOne(e, &v, encodeByPointer[T](), nil)
	return append([]byte(nil), b...), err
}

// encodeMany encodes evs into e's buffer and calls fn with each event's
// index and encoding, in order; it stops at the first error. The encodings
// are slices of e's buffer: valid until e is released. One buffer for all
// the events of a call (pooled: no allocation once warm), and no copy
// before the WAL copies them into its records.
func encodeMany[T any](e *encoder, evs []T, byPtr bool, fast *fastPlan, fn func(i int, payload []byte) error) error {
	ends := make([]int, len(evs))
	for i := range evs {
		if fast != nil {
			e.buf.Write(fast.appendEncode(e.buf.AvailableBuffer(), unsafe.Pointer(&evs[i])))
		} else if err := encodeValue(e, &evs[i], byPtr); err != nil {
			return fmt.Errorf("processor: encode event %d: %w", i, err)
		}
		ends[i] = e.buf.Len()
	}
	b := e.buf.Bytes()
	start := 0
	for i, end := range ends {
		if err := fn(i, b[start:end:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// decode decodes b as decodeInto does, with msgpack alone.
func decode[T any](b []byte) (T, error) {
	var v T
	d := getBatchDecoder()
	defer d.release()
	err := decodeInto(d, nil, b, &v)
	return v, err
}

// batchDecoder decodes the events of a batch with one msgpack decoder,
// reset for each event: msgpack.Unmarshal takes a decoder from its pool and
// allocates a reader for every call. It decodes the same values as
// Unmarshal, without Unmarshal's preallocated values: for every map key
// and value type it meets, that option starts a goroutine that runs for
// the rest of the process, holding 256 values of the type.
type batchDecoder struct {
	rd  msgpackcheck.Reader
	dec *msgpack.Decoder

	// arena is the chunk str copies payloads into: a Builder only
	// appends, so what it has handed out as strings is never written
	// again, and it allocates its chunk without zeroing it.
	arena strings.Builder
}

// arenaChunk is the size of the chunks batchDecoder.str copies payloads
// into: what a string kept from a decoded event keeps alive at most.
const arenaChunk = 16 << 10

// str returns a copy of b as a string, carved from the decoder's current
// chunk (a new one when it is full). A payload larger than arenaChunk/8
// gets a copy of its own, so a chunk holds at least eight events and
// wastes at most an eighth of itself.
func (d *batchDecoder) str(b []byte) string {
	if len(b) == 0 || len(b) > arenaChunk/8 {
		return string(b)
	}
	if d.arena.Cap()-d.arena.Len() < len(b) {
		d.arena = strings.Builder{}
		d.arena.Grow(arenaChunk)
	}
	start := d.arena.Len()
	d.arena.Write(b)
	return d.arena.String()[start:]
}

var decPool = sync.Pool{New: func() any {
	d := &batchDecoder{}
	d.dec = msgpack.NewDecoder(&d.rd)
	return d
}}

func getBatchDecoder() *batchDecoder { return decPool.Get().(*batchDecoder) }

func (d *batchDecoder) release() {
	d.rd.Clear()
	decPool.Put(d)
}

// decodeInto decodes b into *v, which must hold T's zero value: with the
// fast codec when it has a plan for T and knows every byte, else with
// msgpack. Whatever the bytes, the decoding is bounded: msgpack reads only
// bytes msgpackcheck.Check accepts (lengths within the payload, nesting at
// most msgpackcheck.MaxDepth deep), through a msgpackcheck.Reader (which
// refuses msgpack's reading a map's length out of a timestamp where T has
// a map), so it allocates in proportion to len(b) (times the size of T's
// largest element type) and recurses at most MaxDepth levels; the fast
// codec checks every length itself. A panic in msgpack is an error (see
// encodeValue). An error makes the event undecodable: it goes to dead
// letters alone (loop.values).
func decodeInto[T any](d *batchDecoder, fast *fastPlan, b []byte, v *T) error {
	if fast != nil {
		if fast.decode(d.str(b), unsafe.Pointer(v)) {
			return nil
		}
		var zero T
		*v = zero
	}
	return d.decode(b, v)
}

func (d *batchDecoder) decode(b []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil { // as in encodeValue
			err = fmt.Errorf("msgpack: %v", r)
		}
	}()
	if err := d.rd.Reset(b); err != nil {
		return err
	}
	d.dec.ResetReader(&d.rd)
	err = d.dec.Decode(v)
	if rerr := d.rd.Err(); rerr != nil {
		return rerr
	}
	return err
}
