package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/sinks/kafka"
)

type PageView struct {
	User string `msgpack:"user" json:"user"`
	Path string `msgpack:"path" json:"path"`
}

// Kafka is at least once across a producer crash: a batch Kafka wrote just
// before the process died is produced again by the next process, a new
// producer session the broker does not dedupe. The consumer drops the
// copies by the walbatch-event-id header. Here the redelivery is made by
// dispatching the same batch twice, as recovery would after a crash.
func Example() {
	cluster := kfake.MustCluster(kfake.SeedTopics(1, "page-views")) // in-process, for the example
	defer cluster.Close()
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)

	// The producing side: a processor whose dispatcher is the sink.
	sink, err := kafka.New[PageView]("page-views", kafka.WithClientOptions(seeds),
		kafka.WithValue(func(ev dispatcher.Event[PageView]) ([]byte, error) { return json.Marshal(ev.Value) }))
	if err != nil {
		panic(err)
	}
	defer sink.Close() // after the processor's Stop
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	var once *dispatcher.Batch[PageView]
	p, err := processor.Open[PageView](filepath.Join(dir, "events.wal"),
		dispatcher.Func[PageView](func(ctx context.Context, b *dispatcher.Batch[PageView]) error {
			if once == nil {
				once = b
				_ = sink.Dispatch(ctx, b) // delivered, then "the process dies" before the WAL knows
			}
			return sink.Dispatch(ctx, b)
		}))
	if err != nil {
		panic(err)
	}
	for _, path := range []string{"/", "/pricing", "/signup"} {
		if err := p.Enqueue(context.Background(), PageView{User: "u1", Path: path}); err != nil {
			panic(err)
		}
	}
	if err := p.Stop(context.Background()); err != nil { // flushes
		panic(err)
	}

	// The consuming side: drop records whose event ID was seen. A real
	// consumer keeps the seen IDs as long as a redelivery can come (the
	// producer's retry horizon), e.g. in the store it writes to, in the
	// same transaction as the effect.
	cons, err := kgo.NewClient(seeds, kgo.ConsumeTopics("page-views"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		panic(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for records := 0; records < 6; {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			records++
			id := ""
			for _, h := range r.Headers {
				if h.Key == kafka.HeaderEventID {
					id = string(h.Value)
				}
			}
			if seen[id] {
				fmt.Printf("offset %d: duplicate, dropped\n", r.Offset)
				return
			}
			seen[id] = true
			var v PageView
			_ = json.Unmarshal(r.Value, &v)
			fmt.Printf("offset %d: %s %s\n", r.Offset, v.User, v.Path)
		})
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Println("distinct events:", len(seen))
	// Output:
	// offset 0: u1 /
	// offset 1: u1 /pricing
	// offset 2: u1 /signup
	// offset 3: duplicate, dropped
	// offset 4: duplicate, dropped
	// offset 5: duplicate, dropped
	// distinct events: 3
}
