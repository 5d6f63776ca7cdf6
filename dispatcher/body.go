package dispatcher

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// BodyFormat is the shape of the request body the default event factory
// writes. Every shape encodes an event's Value with encoding/json (use
// json.RawMessage for values that are JSON already).
type BodyFormat int

const (
	// BodyEnvelope is the default: one JSON object with the batch and its
	// events, Content-Type application/json:
	//
	//	{"batch_id":"…","stream":"…","attempt":1,"events":[
	//	  {"id":"…","seq":7,"time":"2026-01-02T15:04:05.123456789Z","key":"…",
	//	   "headers":{"traceparent":"…"},"data":{…}}]}
	//
	// "key" is left out when the event has none, "headers" (its Headers,
	// keys sorted) when it has none; "time" is the enqueue time in UTC,
	// RFC 3339 with nanoseconds.
	BodyEnvelope BodyFormat = iota
	// BodyJSONArray is a plain JSON array of the events' values, as the
	// Apache APISIX's http-logger plugin sends, Content-Type application/json. It
	// carries no event IDs: receivers can only drop duplicates by the
	// Idempotency-Key header. Nor does it carry event headers: every
	// element is the bare value, so the array keeps one shape; use
	// BodyEnvelope or BodyNDJSON for receivers that need them.
	BodyJSONArray
	// BodyNDJSON is one event object (as in BodyEnvelope) per line, each
	// line ending in "\n", Content-Type application/x-ndjson.
	BodyNDJSON
)

// String returns the format's name.
func (f BodyFormat) String() string {
	switch f {
	case BodyEnvelope:
		return "envelope"
	case BodyJSONArray:
		return "json-array"
	case BodyNDJSON:
		return "ndjson"
	}
	return "BodyFormat(" + strconv.Itoa(int(f)) + ")"
}

// ContentType returns the media type of the format's bodies.
func (f BodyFormat) ContentType() string {
	if f == BodyNDJSON {
		return "application/x-ndjson"
	}
	return "application/json"
}

func (f BodyFormat) valid() bool { return f >= BodyEnvelope && f <= BodyNDJSON }

// encodeError reports the first event of a batch whose Value cannot be
// encoded. The HTTP dispatcher still delivers the events before it.
type encodeError struct {
	index int
	id    string
	err   error
}

func (e *encodeError) Error() string {
	return fmt.Sprintf("dispatcher: event %s: encode value as JSON: %v", e.id, e.err)
}

func (e *encodeError) Unwrap() error { return e.err }

// EncodeBody encodes b in the given format, as the default event factory
// does. An event whose Value cannot be encoded gives a permanent error; so
// does a nil b (ErrInvalidCall).
func EncodeBody[T any](format BodyFormat, b *Batch[T]) ([]byte, error) {
	if !format.valid() {
		return nil, Permanent(fmt.Errorf("%w: unknown body format %d", ErrInvalidOption, int(format)))
	}
	if b == nil {
		return nil, Permanent(fmt.Errorf("%w: nil batch", ErrInvalidCall))
	}
	buf := make([]byte, 0, 64+b.Bytes()*2+len(b.Events)*96)
	if format == BodyEnvelope {
		buf = append(buf, `{"batch_id":`...)
		buf = appendJSONString(buf, b.ID)
		buf = append(buf, `,"stream":`...)
		buf = appendJSONString(buf, b.Stream)
		buf = append(buf, `,"attempt":`...)
		buf = strconv.AppendInt(buf, int64(b.Attempt), 10)
		buf = append(buf, `,"events":[`...)
	} else if format == BodyJSONArray {
		buf = append(buf, '[')
	}
	for i := range b.Events {
		ev := &b.Events[i]
		data, err := json.Marshal(ev.Value)
		if err != nil {
			return nil, Permanent(&encodeError{index: i, id: ev.ID, err: err})
		}
		if i > 0 && format != BodyNDJSON {
			buf = append(buf, ',')
		}
		if format == BodyJSONArray {
			buf = append(buf, data...)
			continue
		}
		buf = appendEventObject(buf, ev, data)
		if format == BodyNDJSON {
			buf = append(buf, '\n')
		}
	}
	switch format {
	case BodyEnvelope:
		buf = append(buf, "]}"...)
	case BodyJSONArray:
		buf = append(buf, ']')
	}
	return buf, nil
}

// appendEventObject appends {"id","seq","time","key"?,"headers"?,"data"} for ev, whose
// Value encodes to data.
func appendEventObject[T any](buf []byte, ev *Event[T], data []byte) []byte {
	buf = append(buf, `{"id":`...)
	buf = appendJSONString(buf, ev.ID)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendUint(buf, ev.Seq, 10)
	buf = append(buf, `,"time":"`...)
	buf = ev.EnqueuedAt.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, '"')
	if ev.Key != "" {
		buf = append(buf, `,"key":`...)
		buf = appendJSONString(buf, ev.Key)
	}
	if len(ev.Headers) > 0 {
		buf = append(buf, `,"headers":`...)
		buf = appendHeadersJSON(buf, ev.Headers)
	}
	buf = append(buf, `,"data":`...)
	buf = append(buf, data...)
	return append(buf, '}')
}

// appendHeadersJSON appends h as a JSON object with sorted keys.
func appendHeadersJSON(buf []byte, h map[string]string) []byte {
	buf = append(buf, '{')
	for i, k := range slices.Sorted(maps.Keys(h)) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		buf = appendJSONString(buf, h[k])
	}
	return append(buf, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
