package walnats

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/walbatch/walbatch/dispatcher"
)

// Dispatcher publishes every event of a batch as one JetStream message and
// reports one outcome per event (dispatcher.PerEvent). It is safe for
// concurrent use, so a processor may keep several batches in flight.
type Dispatcher[T any] struct {
	js     jetstream.JetStream
	stream string
	subj   *subject
	body   func(*dispatcher.Event[T]) ([]byte, error)
	perms  *permWatch
	cfg    config
	window atomic.Pointer[Window]

	acked, duplicates atomic.Int64
}

// New returns a dispatcher publishing on nc to the JetStream stream named
// stream, each event on the subject its template renders:
//
//	events.{stream}                   the walbatch stream (Batch.Stream)
//	events.{stream}.{key|none}        and the batch key, "none" when empty
//	events.{header:region|global}     an event header, with a default
//
// Text outside braces is kept; placeholders are {stream}, {key} and
// {header:NAME}, each optionally with |DEFAULT for an empty value. An event
// whose subject renders empty, with a wildcard or whitespace, or over 1024
// bytes is dead-lettered with ErrSubject. The stream must listen on the
// subjects; every publish expects it (Nats-Expected-Stream), so a subject
// bound to another stream is refused, permanently.
//
// New reads the stream's configuration within ctx: it fails with ErrStream
// when the stream does not exist or has NoAck set, and logs a warning when
// the retry horizon (WithRetryHorizon) is longer than the stream's
// duplicate window; Check says the same as a value.
//
// New wraps nc's error handler, keeping the one set before it: a
// permissions violation for a subject comes only there, and it fails the
// events waiting on that subject. An error handler set on nc after New
// replaces the wrapper, and a refused publish is then retried until its
// ack times out each time.
//
// Make one Dispatcher per connection and stream, and share it: it serves
// every walbatch stream ({stream} in the template), so a Manager's factory
// returns the same one for each stream. Each New asks the server for the
// stream's configuration and adds a wrapper to the connection's error
// handler that stays for the connection's life.
func New[T any](ctx context.Context, nc *nats.Conn, stream, subjectTemplate string, opts ...Option) (*Dispatcher[T], error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch {
	case nc == nil:
		return nil, fmt.Errorf("%w: nil *nats.Conn", ErrInvalidOption)
	case stream == "":
		return nil, fmt.Errorf("%w: empty stream name", ErrInvalidOption)
	}
	body := storedBody[T]
	if cfg.body != nil {
		fn, ok := cfg.body.(func(*dispatcher.Event[T]) ([]byte, error))
		if !ok {
			return nil, fmt.Errorf("%w: body function is %T, want func(*dispatcher.Event[%T]) ([]byte, error)", ErrInvalidOption, cfg.body, *new(T))
		}
		if fn == nil {
			return nil, fmt.Errorf("%w: nil body function", ErrInvalidOption)
		}
		body = fn
	}
	subj, err := parseSubject(subjectTemplate)
	if err != nil {
		return nil, err
	}
	jsOpts := []jetstream.JetStreamOpt{jetstream.WithPublishAsyncMaxPending(cfg.maxPending), jetstream.WithPublishAsyncTimeout(cfg.ackTimeout)}
	var js jetstream.JetStream
	if cfg.domain != "" {
		js, err = jetstream.NewWithDomain(nc, cfg.domain, jsOpts...)
	} else {
		js, err = jetstream.New(nc, jsOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("walnats: %w", err)
	}
	d := &Dispatcher[T]{js: js, stream: stream, subj: subj, body: body, cfg: cfg}
	if _, err := d.Check(ctx); err != nil && !errors.Is(err, ErrWindowShort) {
		return nil, err
	}
	d.perms = watchPermissions(nc)
	return d, nil
}

// Dispatch publishes one message per event, all at once, and waits within
// ctx for every PubAck. Each event's outcome, in the batch's order:
// delivered when the stream acknowledged it (a PubAck with Duplicate set
// counts: the stream holds it from an earlier attempt); permanent or
// retryable as the package doc lists; retryable when ctx ends first.
func (d *Dispatcher[T]) Dispatch(ctx context.Context, b *dispatcher.Batch[T]) error {
	if ctx == nil || b == nil {
		return dispatcher.Permanent(fmt.Errorf("%w: nil context or batch", dispatcher.ErrInvalidCall))
	}
	n := len(b.Events)
	errs := make([]error, n)
	futs := make([]jetstream.PubAckFuture, n)
	subjects := make([]string, n)
	denied := make([]*denial, n)
	defer func() {
		for i, dn := range denied {
			if dn != nil {
				d.perms.release(subjects[i], dn)
			}
		}
	}()
	for i := range b.Events {
		e := &b.Events[i]
		var msg *nats.Msg
		if msg, errs[i] = d.message(b, e); errs[i] != nil {
			continue
		}
		// Registered before the publish: the server's refusal can come
		// before PublishMsgAsync returns.
		subjects[i] = msg.Subject
		denied[i] = d.perms.wait(msg.Subject)
		futs[i], errs[i] = d.publish(ctx, msg, e.ID)
	}
	for i, f := range futs {
		if f == nil {
			continue // failed before it was sent
		}
		select {
		case ack := <-f.Ok():
			d.acked.Add(1)
			if ack.Duplicate {
				d.duplicates.Add(1)
			}
		case err := <-f.Err():
			errs[i] = outcome(publishError(b.Events[i].ID, subjects[i], err))
		case <-denied[i].ch:
			errs[i] = outcome(publishError(b.Events[i].ID, subjects[i], denied[i].reason()))
		case <-ctx.Done():
			for j := i; j < n; j++ {
				if futs[j] != nil {
					errs[j] = publishError(b.Events[j].ID, subjects[j], fmt.Errorf("no PubAck before the dispatch ended: %w", ctx.Err()))
				}
			}
			return dispatcher.PerEvent(errs)
		}
	}
	return dispatcher.PerEvent(errs)
}

// message builds one event's message, or returns its (permanent)
// outcome.
func (d *Dispatcher[T]) message(b *dispatcher.Batch[T], e *dispatcher.Event[T]) (*nats.Msg, error) {
	subj, err := subjectOf(d.subj, b.Stream, e)
	if err != nil {
		return nil, outcome(publishError(e.ID, "", err))
	}
	data, err := d.body(e)
	if err != nil {
		return nil, outcome(publishError(e.ID, subj, fmt.Errorf("%w: %w", ErrBody, err)))
	}
	msg, err := message(subj, data, b, e)
	if err != nil {
		return nil, outcome(publishError(e.ID, subj, err))
	}
	return msg, nil
}

// publish sends msg; the future is nil when it could not be sent, with
// its outcome.
func (d *Dispatcher[T]) publish(ctx context.Context, msg *nats.Msg, id string) (jetstream.PubAckFuture, error) {
	for {
		// Past WithMaxPending, PublishMsgAsync waits up to its stall wait
		// for acks of earlier publishes; wait again while ctx lasts.
		f, err := d.js.PublishMsgAsync(msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(d.stream),
			jetstream.WithStallWait(stallWait(ctx)))
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, outcome(publishError(id, msg.Subject, err))
		}
		return f, nil
	}
}

// stallWait is how long one publish may wait for room among the pending
// acks: until ctx's deadline, at most a second at a time so that a
// cancelled ctx is seen.
func stallWait(ctx context.Context) time.Duration {
	w := time.Second
	if dl, ok := ctx.Deadline(); ok {
		w = min(w, time.Until(dl))
	}
	return max(w, time.Millisecond)
}

// Stats counts PubAcks since New.
type Stats struct {
	// Acked is the events the stream acknowledged.
	Acked int64
	// Duplicates is how many of those acks said Duplicate: the stream had
	// the event's ID from an earlier attempt within its duplicate window
	// and did not store it again.
	Duplicates int64
}

// Stats returns the counts since New.
func (d *Dispatcher[T]) Stats() Stats {
	return Stats{Acked: d.acked.Load(), Duplicates: d.duplicates.Load()}
}
