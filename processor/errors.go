package processor

import "errors"

// Sentinel errors. Test with errors.Is.
var (
	// ErrStopped is returned by Enqueue, TryEnqueue, EnqueueAsync and Flush
	// once Stop has begun, and by Start after Stop.
	ErrStopped = errors.New("processor: stopped")

	// ErrNotStarted is returned by Flush on a processor opened with start
	// on open off, before Start.
	ErrNotStarted = errors.New("processor: not started")

	// ErrFull is returned when the pending limits are reached and the full
	// policy is FailFast (always, for TryEnqueue). Nothing was written.
	ErrFull = errors.New("processor: pending limit reached")

	// ErrEventTooLarge is returned by Enqueue for an event whose encoding
	// is larger than the batch byte limit: it could never be dispatched.
	ErrEventTooLarge = errors.New("processor: event larger than the batch byte limit")

	// ErrUndecodable is wrapped by the Err of the DeadLettered
	// notification for an event whose payload does not decode into T
	// (malformed msgpack, nested deeper than the limit, or not of T's
	// shape). Such an event goes to dead letters alone, with reason
	// "undecodable: ..."; the rest of its batch is dispatched. Enqueue
	// returns it, writing nothing, for an event whose encoding would not
	// decode: nested more than 100 deep, or a msgpack.RawMessage that is not
	// one well-formed msgpack value.
	ErrUndecodable = errors.New("processor: undecodable event")

	// ErrBadEventID is returned, wrapped, by RequeueDead and PurgeDead for
	// an event ID not of the form dispatcher.Event.ID has (32 hex digits).
	ErrBadEventID = errors.New("processor: not an event ID")

	// ErrDispatcherPanicked is wrapped by the Err of the BatchDispatched
	// notification of an attempt whose Dispatch panicked: the panic is
	// recovered and the attempt is a retryable failure.
	ErrDispatcherPanicked = errors.New("processor: dispatcher panicked")

	// ErrInvalidOption is returned by Open and New for an option value
	// out of range or options that conflict.
	ErrInvalidOption = errors.New("processor: invalid option")

	// ErrStuck is returned by Stop (wrapped, naming the batch or the
	// listener) when a dispatcher or a notification listener had not
	// returned a second after Stop's deadline: Stop returned
	// without it. See Stop.
	ErrStuck = errors.New("processor: still running at Stop's deadline")

	// ErrUndelivered is matched by the error Processor.Stop and
	// Manager.Stop return when they leave events pending or in flight in
	// the WAL (an *UndeliveredError, with the counts). The events are
	// durable and go out after the next open; dead letters do not count.
	ErrUndelivered = errors.New("processor: events left undelivered at Stop")
)
