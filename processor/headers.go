package processor

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxHeaderBytes is the most an event's headers may hold: the sum of the
// lengths of their keys and values. Headers are stored beside the payload,
// not in it: they count toward neither the batch byte limit nor the
// pending byte limit, which count payloads, so this limit bounds them.
const MaxHeaderBytes = 8 << 10

// ErrInvalidHeaders is returned, wrapped, by Enqueue, TryEnqueue,
// EnqueueMany and EnqueueAsync for an event whose headers break the rules
// of WithEventHeaders. The event was not written.
var ErrInvalidHeaders = errors.New("processor: invalid event headers")

// WithEventHeaders sets fn to derive each event's headers (W3C traceparent,
// routing keys) when it is enqueued, by every enqueue method and every
// stream of a Manager. They are stored in the event's WAL record and given
// to the dispatcher in dispatcher.Event.Headers on every attempt, after a
// restart and after a requeue from dead letters. fn may return nil for
// none. Keys must be non-empty, keys and values valid UTF-8, and their
// lengths together at most MaxHeaderBytes, else the enqueue fails with
// ErrInvalidHeaders. The map is encoded before the enqueue returns; the
// caller may reuse it afterwards. Default: no headers; a nil fn is refused
// with ErrInvalidOption.
func WithEventHeaders[T any](fn func(T) map[string]string) Option {
	return optionFunc(func(c *config) { c.headersFn = fn })
}

// headersOf returns ev's headers, checked.
func (p *Processor[T]) headersOf(ev T) (map[string]string, error) {
	if p.hdrFn == nil {
		return nil, nil
	}
	h := p.hdrFn(ev)
	if err := checkHeaders(h); err != nil {
		return nil, err
	}
	return h, nil
}

func checkHeaders(h map[string]string) error {
	n := 0
	for k, v := range h {
		switch {
		case k == "":
			return fmt.Errorf("%w: empty key", ErrInvalidHeaders)
		case !utf8.ValidString(k):
			return fmt.Errorf("%w: key %q is not valid UTF-8", ErrInvalidHeaders, k)
		case !utf8.ValidString(v):
			return fmt.Errorf("%w: the value of %q is not valid UTF-8", ErrInvalidHeaders, k)
		}
		n += len(k) + len(v)
		if n > MaxHeaderBytes {
			return fmt.Errorf("%w: more than %d bytes", ErrInvalidHeaders, MaxHeaderBytes)
		}
	}
	return nil
}
