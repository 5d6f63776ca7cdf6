package processor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
)

type click struct {
	Button string `msgpack:"button"`
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)

	// The sink: here a function; dispatcher.NewHTTP posts batches instead.
	send := dispatcher.Func[click](func(ctx context.Context, b *dispatcher.Batch[click]) error {
		for _, ev := range b.Events {
			fmt.Println("sent", ev.Value.Button)
		}
		return nil // every event accepted
	})
	p, err := processor.Open[click](filepath.Join(dir, "events.wal"), send, processor.WithBatchSize(100))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	_ = p.Enqueue(ctx, click{"buy"}) // returns once the event is on disk
	_ = p.Enqueue(ctx, click{"cancel"})
	_ = p.Stop(ctx) // dispatches what is pending, then closes the file
	// Output:
	// sent buy
	// sent cancel
}

func ExampleProcessor_Subscribe() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)

	calls := 0
	flaky := dispatcher.Func[click](func(ctx context.Context, b *dispatcher.Batch[click]) error {
		if calls++; calls == 1 {
			return dispatcher.Retryable(fmt.Errorf("sink busy"), 10*time.Millisecond)
		}
		return nil
	})
	p, err := processor.Open[click](filepath.Join(dir, "events.wal"), flaky)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Listeners run on their own goroutine, off the processor's path.
	p.Subscribe(processor.BatchDispatched, func(n processor.Notification) {
		fmt.Printf("attempt %d: %d of %d events delivered, err: %v\n", n.Attempt, n.Delivered, n.Count, n.Err)
	})
	p.Subscribe(processor.RetryScheduled, func(n processor.Notification) {
		fmt.Printf("retry scheduled after attempt %d\n", n.Attempt)
	})
	ctx := context.Background()
	_ = p.EnqueueMany(ctx, []click{{"buy"}, {"cancel"}})
	_ = p.Flush(ctx) // returns when both are delivered
	_ = p.Stop(ctx)  // delivers the notifications still queued
	// Output:
	// attempt 1: 0 of 2 events delivered, err: sink busy (retry after 10ms)
	// retry scheduled after attempt 1
	// attempt 2: 2 of 2 events delivered, err: <nil>
}

// pageView holds a map, so by default its batches are decoded from the WAL
// (a producer could still change the map after Enqueue).
type pageView struct {
	Path  string            `msgpack:"path"`
	Attrs map[string]string `msgpack:"attrs"`
}

func ExampleWithHandoff() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)

	sink := dispatcher.Func[pageView](func(ctx context.Context, b *dispatcher.Batch[pageView]) error {
		for _, ev := range b.Events {
			fmt.Println(ev.Value.Path, ev.Value.Attrs["country"])
		}
		return nil
	})
	// HandoffOwned: this producer never touches an event after enqueueing
	// it, so a batch sealed while the values are still in memory goes out
	// with them instead of decoding the WAL's copies. What is written to
	// the WAL, and what a restart replays, is the same either way. (Flush
	// seals the batch here; a batch that a commit fills may go out before
	// EnqueueMany has handed its values over, and is then decoded.)
	p, err := processor.Open[pageView](filepath.Join(dir, "events.wal"), sink,
		processor.WithBatchSize(10), processor.WithHandoff(processor.HandoffOwned))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	_ = p.EnqueueMany(ctx, []pageView{
		{Path: "/pricing", Attrs: map[string]string{"country": "DE"}},
		{Path: "/docs", Attrs: map[string]string{"country": "FR"}},
	})
	_ = p.Flush(ctx)
	fmt.Println("handed off:", p.Stats().HandedOff)
	_ = p.Stop(ctx)
	// Output:
	// /pricing DE
	// /docs FR
	// handed off: 2
}

// Stop says what it left in the WAL: here the sink is down, so the three
// events wait for the next start. They are durable; the error is for the
// log, not a failure.
func ExampleUndeliveredError() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)

	down := dispatcher.Func[click](func(context.Context, *dispatcher.Batch[click]) error {
		return errors.New("collector unavailable")
	})
	p, err := processor.Open[click](filepath.Join(dir, "events.wal"), down,
		processor.WithStopTimeout(100*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	_ = p.EnqueueMany(ctx, []click{{"buy"}, {"cancel"}, {"back"}})
	err = p.Stop(ctx)
	var left *processor.UndeliveredError
	if errors.As(err, &left) {
		fmt.Printf("left %d events for the next start (%d pending, %d in flight)\n",
			left.Events(), left.PendingEvents, left.InFlightEvents)
	}
	fmt.Println("other errors:", processor.WithoutUndelivered(err))
	// Output:
	// left 3 events for the next start (0 pending, 3 in flight)
	// other errors: <nil>
}
