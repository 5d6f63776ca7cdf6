package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
)

// Header names the sink sets on every record. An event header of the same
// name is not copied: these two always say what walbatch assigned.
const (
	// HeaderEventID carries the event's ID, the same on every redelivery:
	// the key a consumer drops duplicates by.
	HeaderEventID = "walbatch-event-id"
	// HeaderBatchID carries the ID of the batch the event was dispatched
	// in, stable across retries and restarts.
	HeaderBatchID = "walbatch-batch-id"
)

// Sink is a dispatcher.Dispatcher that produces one Kafka record per event
// and reports one outcome per event (dispatcher.PerEvent). It is safe for
// concurrent use: with processor.WithMaxInFlight above 1, batches are
// produced concurrently and records of different batches may interleave in a
// partition.
type Sink[T any] struct {
	cl    *kgo.Client
	owned bool // made by New from WithClientOptions; Close closes it
	topic string
	fn    funcs[T]

	closeOnce sync.Once
}

var _ dispatcher.Dispatcher[struct{}] = (*Sink[struct{}])(nil)

// New returns a sink producing to topic (or to the topic WithTopicFunc
// chooses per event) with the client of WithClient or WithClientOptions.
// Errors wrap ErrInvalidOption (a client with kgo.ManualFlushing or
// kgo.TransactionalID is refused), or are kgo.NewClient's.
func New[T any](topic string, opts ...Option) (*Sink[T], error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	fn, err := validate[T](&c, topic)
	if err != nil {
		return nil, err
	}
	s := &Sink[T]{cl: c.client, topic: topic, fn: fn}
	if c.ownClient {
		if s.cl, err = kgo.NewClient(c.clientOpts...); err != nil {
			return nil, fmt.Errorf("kafka: new client: %w", err)
		}
		s.owned = true
	}
	if err := checkClient(s.cl); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkClient refuses a client the sink cannot produce with: one with
// kgo.ManualFlushing buffers the records until a Flush the sink never
// calls, and a transactional one (kgo.TransactionalID) fails every record
// produced outside a transaction the sink never begins; each Dispatch
// would fail retryably until the processor's retries run out.
func checkClient(cl *kgo.Client) error {
	if manual, _ := cl.OptValue(kgo.ManualFlushing).(bool); manual {
		return fmt.Errorf("%w: the client has kgo.ManualFlushing: records would wait for a Flush the sink never calls", ErrInvalidOption)
	}
	if v := cl.OptValues(kgo.TransactionalID); len(v) == 2 {
		if set, _ := v[1].(bool); set {
			return fmt.Errorf("%w: the client is transactional (kgo.TransactionalID): the sink produces outside transactions", ErrInvalidOption)
		}
	}
	return nil
}

// Client returns the client the sink produces with (to consume, or to read
// its metrics); do not close it if the sink created it.
func (s *Sink[T]) Client() *kgo.Client { return s.cl }

// Close closes the client if New created it (WithClientOptions); a client
// given with WithClient is left open. Call it after the processor using the
// sink has stopped: a Dispatch after Close fails retryably (kgo's
// ErrClientClosed), so its events stay in the WAL. Close is idempotent.
func (s *Sink[T]) Close() {
	if s.owned {
		s.closeOnce.Do(s.cl.Close)
	}
}

// Dispatch produces one record per event of b, in order, and waits until
// the log answered for every record or ctx ends. It returns nil when every
// record was acknowledged, else dispatcher.PerEvent with one outcome per
// event: nil (acknowledged), permanent (dead-letter this event; see
// IsPermanent) or retryable. When ctx ends before the client answered for
// every record, the events it acknowledged by then are delivered and the
// others retryable: the client fails the records it has not sent, and
// those already sent may still be written, so their redelivery can be a
// duplicate in the topic (at least once). A Dispatch of a Sink not made by
// New, or with a nil ctx or batch, is a permanent dispatcher.ErrInvalidCall.
func (s *Sink[T]) Dispatch(ctx context.Context, b *dispatcher.Batch[T]) error {
	if s == nil || s.cl == nil {
		return dispatcher.Permanent(fmt.Errorf("%w: a kafka.Sink not made by New", dispatcher.ErrInvalidCall))
	}
	if ctx == nil || b == nil {
		return dispatcher.Permanent(fmt.Errorf("%w: nil context or batch", dispatcher.ErrInvalidCall))
	}
	errs := make([]error, len(b.Events))
	recs := make([]*kgo.Record, 0, len(b.Events))
	idx := make([]int, 0, len(b.Events)) // recs[j] is the record of b.Events[idx[j]]
	for i := range b.Events {
		r, err := s.record(b, &b.Events[i])
		if err != nil {
			errs[i] = dispatcher.Permanent(err)
			continue
		}
		recs = append(recs, r)
		idx = append(idx, i)
	}
	for j, err := range s.produce(ctx, recs) {
		errs[idx[j]] = err
	}
	return dispatcher.PerEvent(errs)
}

// record builds the record of ev.
func (s *Sink[T]) record(b *dispatcher.Batch[T], ev *dispatcher.Event[T]) (*kgo.Record, error) {
	r := &kgo.Record{Topic: s.topic}
	if s.fn.topic != nil {
		if r.Topic = s.fn.topic(*ev); r.Topic == "" {
			return nil, fmt.Errorf("%w %s", ErrNoTopic, ev.ID)
		}
	}
	switch {
	case s.fn.key != nil:
		r.Key = s.fn.key(*ev)
	case ev.Key != "":
		r.Key = []byte(ev.Key)
	}
	if s.fn.value != nil {
		v, err := s.fn.value(*ev)
		if err != nil {
			return nil, fmt.Errorf("kafka: value of event %s: %w", ev.ID, err)
		}
		r.Value = v
	} else {
		r.Value = ev.Payload
	}
	r.Headers = make([]kgo.RecordHeader, 0, 2+len(ev.Headers))
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: HeaderEventID, Value: []byte(ev.ID)},
		kgo.RecordHeader{Key: HeaderBatchID, Value: []byte(b.ID)})
	if len(ev.Headers) > 0 {
		for _, k := range slices.Sorted(maps.Keys(ev.Headers)) {
			if k == HeaderEventID || k == HeaderBatchID {
				continue
			}
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(ev.Headers[k])})
		}
	}
	return r, nil
}
