package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
)

// A sink that sends each event on its own (one message per event, as a
// log's producer does) reports an outcome per event with PerEvent: the
// processor completes the delivered events, dead-letters the permanent ones
// each with its own reason, and retries only the rest under the same batch
// ID.
func ExamplePerEvent() {
	send := func(ev dispatcher.Event[pageView]) error { // one publish; its own outcome
		switch ev.Value.Path {
		case "":
			return dispatcher.Permanent(errors.New("empty path")) // never accepted
		case "/busy":
			return dispatcher.Retryable(errors.New("partition leader moving"), 2*time.Second)
		}
		return nil
	}
	d := dispatcher.Func[pageView](func(ctx context.Context, b *dispatcher.Batch[pageView]) error {
		errs := make([]error, len(b.Events))
		for i, ev := range b.Events {
			errs[i] = send(ev)
		}
		return dispatcher.PerEvent(errs) // nil when every event was delivered
	})

	b := &dispatcher.Batch[pageView]{ID: "b1", Events: []dispatcher.Event[pageView]{
		{Value: pageView{Path: "/"}}, {Value: pageView{Path: ""}}, {Value: pageView{Path: "/busy"}},
	}}
	err := d.Dispatch(context.Background(), b)
	fmt.Println(err)
	outs, _ := dispatcher.EventOutcomes(err, len(b.Events))
	for i, e := range outs {
		after, _ := dispatcher.RetryAfter(e)
		fmt.Printf("event %d: nil=%t permanent=%t retry after %s\n", i, e == nil, dispatcher.IsPermanent(e), after)
	}
	// Output:
	// 2 of 3 events failed: first: permanent: empty path
	// event 0: nil=true permanent=false retry after 0s
	// event 1: nil=false permanent=true retry after 0s
	// event 2: nil=false permanent=false retry after 2s
}
