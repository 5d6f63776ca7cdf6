package processor

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// Handoff says whether a batch sealed soon after its events were enqueued
// is dispatched with the values the producer passed to Enqueue, still in
// memory, instead of values decoded from their msgpack encoding in the WAL.
// Decoding is most of the CPU a dispatched event costs; the handoff skips
// it. Events the handoff no longer holds (after a restart, behind a backlog
// larger than it keeps, on a retry, after a requeue) are decoded as always.
//
// For the two to be the same, the handoff is used only for a T whose
// msgpack encoding decodes to an equal value: exported fields only, no
// `msgpack:"-"` field, no two fields under one msgpack key (a tag naming
// another field, a field shadowing one of an embedded struct), no
// omitempty map or slice (an empty one decodes as nil), no pointer to a
// map, slice or pointer, no tag with quotes or a colon, no interface,
// channel, func, unsafe pointer or complex number, and no type with an
// encoding of its own (msgpack's CustomEncoder or Marshaler,
// encoding.BinaryMarshaler or TextMarshaler, time.Time). A T that fails
// this is always decoded, and so is every event under a codec set with
// WithCodec (see there).
type Handoff int

const (
	// HandoffAuto, the default, hands off values of a T that holds no
	// references (no map, slice, pointer; strings are immutable and count
	// as values): nothing the producer does after Enqueue can reach them.
	// Any other T is decoded.
	HandoffAuto Handoff = iota

	// HandoffOwned also hands off a T holding maps, slices or pointers. The
	// producer gives up the value with Enqueue: it must not modify a map,
	// slice element or pointee an enqueued event refers to (a data race
	// otherwise, and the dispatcher could see the change). Open fails with
	// ErrInvalidOption when T does not round-trip through msgpack (see
	// Handoff), naming the field.
	HandoffOwned

	// HandoffOff decodes every event from the WAL: the dispatcher sees
	// exactly what a recovery after a crash would.
	HandoffOff
)

// WithHandoff sets whether batches are dispatched with the enqueued values
// still in memory (see Handoff). Default HandoffAuto.
func WithHandoff(h Handoff) Option { return optionFunc(func(c *config) { c.handoff = h }) }

// handoffCapacity is how many events the handoff keeps for a batch size:
// four batches, enough for the batch in flight, one sealed ahead and the
// events committed meanwhile, as a power of two.
func handoffCapacity(batchSize int) int {
	n := 1024
	for n < 4*batchSize && n < 1<<16 {
		n <<= 1
	}
	return n
}

// newHandoff returns the handoff the mode allows for T, nil when events are
// always decoded, or an error when HandoffOwned is asked of a T that does
// not round-trip.
func newHandoff[T any](mode Handoff, batchSize int) (*handoff[T], error) {
	if mode == HandoffOff {
		return nil, nil
	}
	refs, why := roundTrips(reflect.TypeFor[T](), nil)
	switch {
	case why != "" && mode == HandoffOwned:
		return nil, fmt.Errorf("%w: HandoffOwned: %s does not decode to an equal value: %s", ErrInvalidOption, reflect.TypeFor[T](), why)
	case why != "", refs && mode == HandoffAuto:
		return nil, nil
	}
	n := handoffCapacity(batchSize)
	return &handoff[T]{mask: uint64(n - 1), seqs: make([]uint64, n), vals: make([]T, n)}, nil
}

var (
	customEncoder   = reflect.TypeFor[msgpack.CustomEncoder]()
	msgpackMarshal  = reflect.TypeFor[msgpack.Marshaler]()
	binaryMarshaler = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
)

// roundTrips reports whether a value of t decodes from its msgpack
// encoding to an equal value: why is empty when it does, else names the
// first field that does not. refs reports whether t holds maps, slices or
// pointers. seen breaks cycles through pointers.
func roundTrips(t reflect.Type, seen map[reflect.Type]bool) (refs bool, why string) {
	if seen[t] {
		return true, ""
	}
	for _, i := range []reflect.Type{customEncoder, msgpackMarshal, binaryMarshaler, textMarshaler} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			return false, fmt.Sprintf("%s has an encoding of its own (%s)", t, i)
		}
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return false, ""
	case reflect.Array:
		return roundTrips(t.Elem(), seen)
	case reflect.Slice, reflect.Pointer:
		if t.Kind() == reflect.Pointer {
			switch t.Elem().Kind() {
			case reflect.Map, reflect.Slice, reflect.Pointer:
				// msgpack writes nil for a pointer to a nil one.
				return true, fmt.Sprintf("%s: a pointer to a nil %s decodes as a nil pointer", t, t.Elem().Kind())
			}
		}
		if seen == nil {
			seen = map[reflect.Type]bool{}
		}
		seen[t] = true
		_, why := roundTrips(t.Elem(), seen)
		return true, why
	case reflect.Map:
		if _, why := roundTrips(t.Key(), seen); why != "" {
			return true, why
		}
		_, why := roundTrips(t.Elem(), seen)
		return true, why
	case reflect.Struct:
		names := map[string]string{} // msgpack key -> the field it came from
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				return refs, fmt.Sprintf("field %s.%s is not exported (msgpack skips it)", t, f.Name)
			}
			tag, ok := parseTag(f)
			if !ok {
				return refs, fmt.Sprintf("field %s.%s has a msgpack tag with quotes or a colon", t, f.Name)
			}
			if tag.name == "-" {
				return refs, fmt.Sprintf("field %s.%s is not encoded (msgpack:\"-\")", t, f.Name)
			}
			if f.Anonymous && f.Type.Kind() == reflect.Pointer {
				// Inlined: a nil one decodes as a pointer to a zero value.
				return true, fmt.Sprintf("field %s.%s is an embedded pointer", t, f.Name)
			}
			if tag.omitEmpty && (f.Type.Kind() == reflect.Map || f.Type.Kind() == reflect.Slice) {
				return true, fmt.Sprintf("field %s.%s: an empty %s is omitted (omitempty) and decodes as nil", t, f.Name, f.Type.Kind())
			}
			// Two fields under one key (a tag naming another field, a
			// field shadowing one of an embedded struct, which msgpack
			// inlines): the decoder puts both values into one of them.
			for _, key := range msgpackKeys(f, tag) {
				if other, dup := names[key]; dup {
					return refs, fmt.Sprintf("fields %s.%s and %s share the msgpack key %q", t, other, f.Name, key)
				}
				names[key] = f.Name
			}
			r, why := roundTrips(f.Type, seen)
			if why != "" {
				return refs, why
			}
			refs = refs || r
		}
		return refs, ""
	default: // interface, chan, func, unsafe pointer, complex
		return true, fmt.Sprintf("%s is a %s", t, t.Kind())
	}
}

type fieldTag struct {
	name      string // msgpack's name for the field
	omitEmpty bool
	noInline  bool
}

// parseTag reads f's msgpack tag as msgpack's tag parser does for the
// tags it accepts: a name and options, each trimmed of spaces. ok is false
// for a tag with quotes or a colon (quoted names, options with values
// such as an alias), which this check does not follow.
func parseTag(f reflect.StructField) (tag fieldTag, ok bool) {
	s := f.Tag.Get("msgpack")
	if strings.ContainsAny(s, "':") {
		return tag, false
	}
	parts := strings.Split(s, ",")
	tag.name = strings.TrimSpace(parts[0])
	for _, o := range parts[1:] {
		switch strings.TrimSpace(o) {
		case "omitempty":
			tag.omitEmpty = true
		case "noinline":
			tag.noInline = true
		}
	}
	if tag.name == "" {
		tag.name = f.Name
	}
	return tag, true
}

// msgpackKeys returns the keys f may take in its struct's msgpack map: its
// name and, for an embedded struct (which msgpack inlines unless it would
// shadow a field before it), the keys of the embedded struct's fields.
func msgpackKeys(f reflect.StructField, tag fieldTag) []string {
	keys := []string{tag.name}
	if !f.Anonymous || tag.noInline || f.Type.Kind() != reflect.Struct {
		return keys
	}
	for i := range f.Type.NumField() {
		inner := f.Type.Field(i)
		if it, ok := parseTag(inner); ok && it.name != "-" && inner.IsExported() {
			keys = append(keys, msgpackKeys(inner, it)...)
		}
	}
	return keys
}

// handoff keeps the values of recently committed events by sequence
// number, in a ring: the slot of seq is seq & mask, and a newer event
// takes the slot of one that was never dispatched from it (that one is
// decoded when its batch goes out). Sequence numbers start at 1, so 0
// marks an empty slot.
type handoff[T any] struct {
	mu   sync.Mutex
	mask uint64
	seqs []uint64
	vals []T

	carriers sync.Pool // of *carrier[T]
}

// put keeps the values of the events committed with sequence numbers
// first, first+1, ...
func (h *handoff[T]) put(first uint64, vals ...T) {
	h.mu.Lock()
	for i := range vals {
		seq := first + uint64(i)
		h.seqs[seq&h.mask] = seq
		h.vals[seq&h.mask] = vals[i]
	}
	h.mu.Unlock()
}

// takeBatch moves the values it holds for recs into evs (same index) and
// returns the indexes of the others, in order. The slots taken are
// emptied: a retry of the batch decodes. A nil handoff holds nothing.
func (h *handoff[T]) takeBatch(recs []wal.Record, evs []dispatcher.Event[T]) (missed []int) {
	if h == nil {
		missed = make([]int, len(recs))
		for i := range missed {
			missed[i] = i
		}
		return missed
	}
	var zero T
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range recs {
		seq := recs[i].Seq
		j := seq & h.mask
		if h.seqs[j] != seq {
			missed = append(missed, i)
			continue
		}
		evs[i].Value = h.vals[j]
		h.vals[j], h.seqs[j] = zero, 0
	}
	return missed
}

// carrier takes the values of one append to the handoff: the WAL's writer
// calls its then (wal.Stream.AppendManyThen) once the append committed,
// before it answers the append and before it applies any later request.
// So the values are in the handoff before any batch holding their events
// can be sealed and read: the dispatch never decodes an event because its
// producer had not yet come back from the commit. A failed append never
// calls then, so nothing is put under sequence numbers a later append
// takes. Carriers are pooled: then is bound once, and an append costs no
// allocation.
type carrier[T any] struct {
	h    *handoff[T]
	one  [1]T
	vals []T
	then func(first uint64) // c.put, bound once
}

// carry returns a carrier of vals (one of them when one is set and vals
// is nil), or nil when h is nil: then of a nil carrier is nil.
func (h *handoff[T]) carry(vals []T, one *T) *carrier[T] {
	if h == nil {
		return nil
	}
	c, _ := h.carriers.Get().(*carrier[T])
	if c == nil {
		c = &carrier[T]{h: h}
		c.then = c.put
	}
	if vals == nil && one != nil {
		c.one[0] = *one
		vals = c.one[:]
	}
	c.vals = vals
	return c
}

func (c *carrier[T]) put(first uint64) { c.h.put(first, c.vals...) }

// thenFn returns the function for AppendManyThen: nil for a nil carrier.
func (c *carrier[T]) thenFn() func(uint64) {
	if c == nil {
		return nil
	}
	return c.then
}

// release puts c back in its pool once the append is answered, keeping no
// reference to the values.
func (c *carrier[T]) release() {
	if c == nil {
		return
	}
	var zero T
	c.one[0], c.vals = zero, nil
	c.h.carriers.Put(c)
}
