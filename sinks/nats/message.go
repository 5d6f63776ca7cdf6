package walnats

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/walbatch/walbatch/dispatcher"
)

// The headers the dispatcher sets on every message besides Nats-Msg-Id
// (the event ID) and Nats-Expected-Stream (the stream named in New).
const (
	// HeaderBatchID carries the batch ID: the same on every retry of the
	// batch and after a restart.
	HeaderBatchID = "Walbatch-Batch-Id"
	// HeaderStream carries the name of the walbatch stream the event was
	// enqueued on (Batch.Stream).
	HeaderStream = "Walbatch-Stream"
)

// message builds the message of one event: its subject and body, the
// batch's headers and the event's own.
func message[T any](subj string, body []byte, b *dispatcher.Batch[T], e *dispatcher.Event[T]) (*nats.Msg, error) {
	h := make(nats.Header, len(e.Headers)+4)
	for k, v := range e.Headers {
		if err := checkHeaderName(k); err != nil {
			return nil, err
		}
		h.Set(k, v) // nats.go replaces CR and LF in values
	}
	h.Set(HeaderBatchID, b.ID)
	h.Set(HeaderStream, b.Stream)
	return &nats.Msg{Subject: subj, Data: body, Header: h}, nil
}

// checkHeaderName refuses a name the wire format cannot carry and one the
// server or this dispatcher gives a meaning: an event header must not set
// Nats-Msg-Id, Nats-Rollup (which purges the stream), Nats-TTL, and the
// like.
func checkHeaderName(k string) error {
	if k == "" {
		return fmt.Errorf("%w: empty name", ErrHeader)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("%w: name %q is not printable ASCII without ':'", ErrHeader, k)
		}
	}
	lower := strings.ToLower(k)
	if strings.HasPrefix(lower, "nats-") || strings.HasPrefix(lower, "walbatch-") {
		return fmt.Errorf("%w: name %q is reserved (Nats-* for the server, Walbatch-* for walnats)", ErrHeader, k)
	}
	return nil
}

// storedBody is the default body: the event's payload as the WAL stores
// it.
func storedBody[T any](e *dispatcher.Event[T]) ([]byte, error) { return e.Payload, nil }

// JSON is a body function (WithBody) sending the JSON encoding of the
// event's value (encoding/json).
func JSON[T any](e *dispatcher.Event[T]) ([]byte, error) { return json.Marshal(e.Value) }
