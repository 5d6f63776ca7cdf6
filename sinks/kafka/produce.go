package kafka

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
)

// produce produces recs and returns each record's outcome, aligned with
// recs: nil, permanent or retryable (see outcome).
//
// Each record has its own promise, so that when ctx ends before the log
// answered for every record, those it acknowledged are still reported
// delivered and only the others retryable. kgo fails a buffered record on
// its context only while no request carrying it is on the wire (an
// idempotent producer cannot know whether the broker wrote it): a record
// reported retryable may still be written, and its redelivery be a
// duplicate in the topic (at least once). The promises of those records
// run after produce returned, on the client's goroutines, and are ignored.
func (s *Sink[T]) produce(ctx context.Context, recs []*kgo.Record) []error {
	if len(recs) == 0 {
		return nil
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel() // when Dispatch stops waiting, kgo fails what it has not sent
	a := newAnswers(len(recs))
	for j, r := range recs {
		s.cl.Produce(pctx, r, func(r *kgo.Record, err error) { a.set(j, outcome(r, err)) })
	}
	select {
	case <-a.all:
	case <-ctx.Done():
	}
	return a.close(func(j int) error {
		return dispatcher.Retryable(fmt.Errorf("kafka: topic %s: %w before the log answered", recs[j].Topic, ctx.Err()), 0)
	})
}

// answers gathers the outcomes of one produce's records as their promises
// run, until close.
type answers struct {
	mu     sync.Mutex
	errs   []error
	seen   []bool
	left   int
	closed bool
	all    chan struct{} // closed once every record has its answer
}

func newAnswers(n int) *answers {
	return &answers{errs: make([]error, n), seen: make([]bool, n), left: n, all: make(chan struct{})}
}

// set records record j's outcome; kgo calls a promise once, and a late or
// repeated call changes nothing.
func (a *answers) set(j int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.seen[j] {
		return
	}
	a.seen[j], a.errs[j] = true, err
	if a.left--; a.left == 0 {
		close(a.all)
	}
}

// close stops taking answers and returns the outcomes, unanswered(j) for
// each record that has none.
func (a *answers) close(unanswered func(j int) error) []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for j, ok := range a.seen {
		if !ok {
			a.errs[j] = unanswered(j)
		}
	}
	return a.errs
}
