package processor

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
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

// encode returns the msgpack encoding of v in a new slice.
func encode[T any](v T) ([]byte, error) {
	e := encPool.Get().(*encoder)
	e.buf.Reset()
	err := e.enc.Encode(v)
	out := append([]byte(nil), e.buf.Bytes()...)
	if e.buf.Cap() > 1<<20 {
		e.buf = new(bytes.Buffer)
		e.enc.Reset(e.buf)
	}
	encPool.Put(e)
	return out, err
}

// encodeMany encodes evs into one new slab and calls fn with each event's
// index and encoding (a slice of the slab), in order; it stops at the first
// error. One allocation for all the events instead of one each.
func encodeMany[T any](evs []T, fn func(i int, payload []byte) error) error {
	e := encPool.Get().(*encoder)
	defer func() {
		if e.buf.Cap() > 1<<20 {
			e.buf = new(bytes.Buffer)
			e.enc.Reset(e.buf)
		}
		encPool.Put(e)
	}()
	e.buf.Reset()
	ends := make([]int, len(evs))
	for i := range evs {
		if err := e.enc.Encode(evs[i]); err != nil {
			return fmt.Errorf("processor: encode event %d: %w", i, err)
		}
		ends[i] = e.buf.Len()
	}
	slab := append([]byte(nil), e.buf.Bytes()...)
	start := 0
	for i, end := range ends {
		if err := fn(i, slab[start:end:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func decode[T any](b []byte) (T, error) {
	var v T
	err := msgpack.Unmarshal(b, &v)
	return v, err
}

// batchDecoder decodes the events of a batch with one msgpack decoder,
// reset for each event: msgpack.Unmarshal takes a decoder from its pool and
// allocates a reader for every call. It decodes exactly as Unmarshal does.
type batchDecoder struct {
	rd  bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any {
	d := &batchDecoder{}
	d.dec = msgpack.NewDecoder(&d.rd)
	d.dec.UsePreallocateValues(true) // as Unmarshal does
	return d
}}

func getBatchDecoder() *batchDecoder { return decPool.Get().(*batchDecoder) }

func (d *batchDecoder) release() {
	d.rd.Reset(nil)
	decPool.Put(d)
}

// decodeInto decodes b into *v, which must hold T's zero value.
func decodeInto[T any](d *batchDecoder, b []byte, v *T) error {
	d.rd.Reset(b)
	d.dec.ResetReader(&d.rd)
	return d.dec.Decode(v)
}
