// Package dispatcher defines where batches go: the dispatch contract shared by
// the processor and every sink, a function dispatcher, and an HTTP dispatcher.
//
// A Dispatcher receives a Batch and reports one of five outcomes through the
// error it returns:
//
//   - nil: every event in the batch was accepted by the sink;
//   - a *PartialError (see Partial): the first n events were accepted and only
//     the rest must be retried (Apache APISIX's first_fail);
//   - an *EventErrors (see PerEvent): one outcome per event, for sinks whose
//     events succeed or fail one by one: delivered, dead-lettered alone, or
//     retried under the same batch ID;
//   - a *PermanentError (see Permanent): the sink refused the batch for good;
//     the processor moves it to dead letters at once with the reason;
//   - any other error: retryable. A *RetryableError (see Retryable) can carry
//     the delay the sink asked for (an HTTP Retry-After).
//
// A dispatcher may be called again with the same batch (same batch ID, same
// event IDs) after a crash or a retry: delivery is at least once, and sinks
// drop duplicates by ID.
package dispatcher

import (
	"context"
	"fmt"
	"time"
)

// Event is one event of a batch as a dispatcher sees it.
type Event[T any] struct {
	// ID is the event's identity, assigned when it was enqueued. It never
	// changes: not across retries, restarts, or a requeue from dead letters.
	ID string
	// Seq is the event's position in its stream's log.
	Seq uint64
	// EnqueuedAt is when Enqueue accepted the event.
	EnqueuedAt time.Time
	// Key is the batch key the event was enqueued with ("" when unused).
	Key string
	// Value is the user's event, decoded from the WAL.
	Value T
	// Payload is the msgpack encoding of Value as it is stored in the WAL.
	Payload []byte
	// Headers are the headers the event was enqueued with (trace context
	// such as W3C traceparent, routing keys), stored in its WAL record
	// with it: the same on every retry, after a restart and after a
	// requeue. Nil when it has none. A dispatcher must not modify it.
	Headers map[string]string
}

// Batch is a run of consecutive events of one stream, dispatched together.
type Batch[T any] struct {
	// ID identifies the batch. It stays the same across retries and
	// restarts, so a sink can use it as an idempotency key. After a partial
	// delivery the remaining events keep the batch ID.
	ID string
	// Stream is the name of the stream the batch was cut from.
	Stream string
	// Attempt counts dispatch attempts of this batch, starting at 1.
	Attempt int
	// Events are in enqueue order. They all share the same Key.
	Events []Event[T]
}

// Bytes returns the total size of the events' payloads (0 for a nil b).
func (b *Batch[T]) Bytes() int {
	if b == nil {
		return 0
	}
	n := 0
	for i := range b.Events {
		n += len(b.Events[i].Payload)
	}
	return n
}

// Dispatcher delivers batches to a sink. Dispatch must honour ctx: when it
// ends, return promptly (the attempt counts as retryable). Dispatch is called
// by one goroutine per in-flight batch; with more than one batch in flight it
// must be safe for concurrent use.
type Dispatcher[T any] interface {
	Dispatch(ctx context.Context, b *Batch[T]) error
}

// Func adapts a plain function to a Dispatcher.
type Func[T any] func(ctx context.Context, b *Batch[T]) error

// Dispatch calls f(ctx, b). A nil f returns a permanent error wrapping
// ErrInvalidCall.
func (f Func[T]) Dispatch(ctx context.Context, b *Batch[T]) error {
	if f == nil {
		return Permanent(fmt.Errorf("%w: nil Func", ErrInvalidCall))
	}
	return f(ctx, b)
}
