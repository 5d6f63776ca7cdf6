// Package processor is the durable batch processor a service embeds: the
// options of the Optimizely Go SDK's in-memory BatchEventProcessor and of
// Apache APISIX's batch processor, on a stream of a write-ahead log, so
// that nothing is lost when the process dies.
//
// Open (or New, on a WAL that is already open) recovers the stream: batches
// a previous process sealed and did not finish are dispatched again with the
// same IDs and attempt counts, then the pending events. Enqueue returns once
// an event is committed (EnqueueMany: many in one commit; EnqueueAsync:
// returns at once and calls back after the commit). One goroutine (the loop) cuts batches when a
// trigger holds (batch size or byte limit reached, a closed batch-key run,
// the oldest event's max age, inactivity, Flush, Stop), starts a dispatch
// goroutine per batch (at most WithMaxInFlight), and records each outcome in
// the WAL: complete, partial, per event (dispatcher.PerEvent), retry with
// backoff, or dead letter.
//
// Callers may assume:
//   - Enqueue returned nil (or EnqueueAsync's callback got nil): the event
//     is durable and will be delivered or dead-lettered with a reason; never
//     dropped.
//   - A batch keeps its ID across retries, partial deliveries and restarts;
//     delivery is at least once.
//   - With one batch in flight (the default) events go out in enqueue order.
//   - Stop returns by its deadline (the stop timeout, or ctx's if earlier),
//     plus at most a second for the dispatches it cancels there to return,
//     and leaves no goroutine behind; what it could not deliver waits in
//     the WAL, and its error (ErrUndelivered, an *UndeliveredError) says
//     how many events and bytes; nil means nothing was left. A dispatcher or listener that ignores its context is the
//     exception: Stop leaves it running rather than wait, returns ErrStuck
//     naming it, and still closes the file; the goroutine ends when the
//     call returns.
//   - A nil context is treated as context.Background() by every method
//     that takes one (Enqueue, EnqueueMany, Flush, Stop, and the
//     Manager's Enqueue, Flush and Stop). A nil WAL, dispatcher, factory,
//     listener, logger or batch key function is refused with
//     ErrInvalidOption; no option value or nil argument makes a method
//     panic.
//
// See https://github.com/walbatch/walbatch/blob/main/docs/processor.md for every option, its default and its source.
package processor
