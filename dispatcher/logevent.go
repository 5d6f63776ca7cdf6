package dispatcher

import "net/http"

// LogEvent is one HTTP request as the HTTP dispatcher sends it: the
// Optimizely Go SDK's LogEvent (verb, URL, params, headers) with the
// params already encoded as the request body.
type LogEvent struct {
	// Method is the HTTP method; "" means POST.
	Method string
	// URL is where the request goes: an absolute http or https URL (any
	// other is a permanent error); "" means the URL given to NewHTTP. Its
	// userinfo is sent as Authorization: Basic, unless Header has an
	// Authorization.
	URL string
	// Body is the request body before compression.
	Body []byte
	// Header holds the request headers the factory wants (Content-Type
	// above all). It may be nil. A name that is not a token or a value
	// holding CR, LF or NUL is a permanent error (ErrInvalidOption), the
	// value not shown.
	Header http.Header
}

// EventFactory builds the LogEvent for a batch; url is the URL given to
// NewHTTP.
//
// The HTTP dispatcher calls it once per request: with the whole batch, or
// with a part of it when the batch must be split (a part keeps the batch's
// ID, Stream and Attempt). It must not modify or keep b. On the LogEvent it
// returns, the dispatcher then sets the user headers (WithHeader), the
// Idempotency-Key and, with WithGzip, compresses Body and sets
// Content-Encoding.
//
// An error it returns is a Dispatch error and follows the contract: wrap it
// with Permanent when the batch can never be encoded, otherwise it is
// retried.
type EventFactory[T any] func(url string, b *Batch[T]) (*LogEvent, error)

// NewEventFactory returns the factory the HTTP dispatcher uses by default: a
// POST to url with the batch encoded in the given body format and the
// matching Content-Type. An event whose Value cannot be encoded as JSON is a
// permanent error.
func NewEventFactory[T any](format BodyFormat) EventFactory[T] {
	return func(url string, b *Batch[T]) (*LogEvent, error) {
		body, err := EncodeBody(format, b)
		if err != nil {
			return nil, err
		}
		h := make(http.Header, 1)
		h.Set("Content-Type", format.ContentType())
		return &LogEvent{Method: http.MethodPost, URL: url, Body: body, Header: h}, nil
	}
}
