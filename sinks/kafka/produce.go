package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
)

// produce produces recs with one ProduceSync and returns each record's
// outcome, aligned with recs: nil, permanent or retryable (see outcome).
//
// ProduceSync runs on a goroutine of its own so that Dispatch can return
// when ctx ends: kgo fails a buffered record on its context only while no
// request carrying it is on the wire (an idempotent producer cannot know
// whether the broker wrote it), so ProduceSync itself can outlast ctx by up
// to the client's request timeout and retries. That goroutine then ends on
// its own when the client answers for the last record; what it learns is
// dropped, the events having been reported retryable.
func (s *Sink[T]) produce(ctx context.Context, recs []*kgo.Record) []error {
	if len(recs) == 0 {
		return nil
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel() // when Dispatch stops waiting, kgo fails what it has not sent
	done := make(chan kgo.ProduceResults, 1)
	go func() { done <- s.cl.ProduceSync(pctx, recs...) }()
	var res kgo.ProduceResults
	select {
	case res = <-done:
	case <-ctx.Done():
		select {
		case res = <-done: // both were ready: the answers win
		default:
			errs := make([]error, len(recs))
			for j := range errs {
				errs[j] = dispatcher.Retryable(fmt.Errorf("kafka: topic %s: %w before the log answered", recs[j].Topic, ctx.Err()), 0)
			}
			return errs
		}
	}
	// ProduceSync returns the results in the order the promises ran, not
	// the order of recs.
	at := make(map[*kgo.Record]int, len(recs))
	for j, r := range recs {
		at[r] = j
	}
	errs := make([]error, len(recs))
	answered := make([]bool, len(recs))
	for _, pr := range res {
		j, ok := at[pr.Record]
		if !ok {
			continue
		}
		answered[j] = true
		errs[j] = outcome(pr.Record, pr.Err)
	}
	for j, ok := range answered {
		if !ok { // never seen; kgo promises one result per record
			errs[j] = fmt.Errorf("kafka: topic %s: no result from the client", recs[j].Topic)
		}
	}
	return errs
}
