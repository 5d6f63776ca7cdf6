package dispatcher

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrInvalidOption is returned by NewHTTP when the URL or an option is
// invalid, or when options conflict. The wrapping error names the option.
var ErrInvalidOption = errors.New("dispatcher: invalid option")

// ErrInvalidCall is returned, wrapped in a *PermanentError, by a Dispatch
// that cannot run: of a nil Func, of an HTTP not made by NewHTTP, or with a
// nil context or a nil batch; and by EncodeBody for a nil batch.
var ErrInvalidCall = errors.New("dispatcher: invalid call")

// ErrBodyTooLarge is returned by the HTTP dispatcher, wrapped in a
// *PermanentError, when a single event's request body alone is over the byte
// limit (WithMaxBodyBytes): it can never be sent, so it is not retried.
var ErrBodyTooLarge = errors.New("dispatcher: request body over the byte limit")

// StatusError is an HTTP response the receiver answered with a status other
// than 2xx. The HTTP dispatcher returns it wrapped: in a *RetryableError for
// 408, 429 and 5xx, in a *PermanentError for anything else. Use errors.As to
// read it.
type StatusError struct {
	// Status is the HTTP status code.
	Status int
	// Body is the start of the response body (at most 256 bytes, valid
	// UTF-8), with secret header values removed.
	Body string
}

func (e *StatusError) Error() string {
	if e == nil {
		return "HTTP error " + noReason
	}
	msg := fmt.Sprintf("HTTP %d", e.Status)
	if text := http.StatusText(e.Status); text != "" {
		msg += " " + text
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// errSplit is returned internally by build when a batch of more than one
// event encodes to a body over the byte limit; it never leaves the package.
var errSplit = errors.New("dispatcher: body over the limit, split the batch")
