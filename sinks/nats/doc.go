// Package walnats is a walbatch dispatcher that publishes into a NATS
// JetStream stream: one message per event, with the event's ID as its
// Nats-Msg-Id, so that the server drops a redelivery (after a lost
// PubAck, a retry, or a crash before the batch was marked complete) that
// comes within the stream's duplicate window. Inside that window delivery
// is effectively once; past it, at least once (see Window and
// docs/sinks.md).
//
// Each message carries, besides Nats-Msg-Id:
//
//   - Nats-Expected-Stream: the stream given to New, so a subject bound to
//     another stream is refused instead of stored there;
//   - Walbatch-Batch-Id and Walbatch-Stream: the batch ID and the walbatch
//     stream the event was enqueued on;
//   - the event's own headers (processor.WithEventHeaders), such as W3C
//     traceparent. Names starting with Nats- or Walbatch- are refused.
//
// The body is the event's payload as the WAL stores it: msgpack by
// default, or the processor's WithCodec (WithBody changes it; JSON sends
// the value's JSON).
//
// Dispatch publishes every event of the batch asynchronously and waits,
// within its context, for every PubAck. It reports one outcome per event
// (dispatcher.PerEvent): delivered when acknowledged, duplicates
// included; permanent (the event alone goes to dead letters, with its
// reason) for a message over the server's max_payload or the stream's
// MaxMsgSize, a permissions violation, a subject bound to another stream,
// a sealed stream, an invalid subject or header; retryable for no
// responders, timeouts, a lost connection, leadership changes and the
// cluster's other transient states, and anything unknown.
package walnats
