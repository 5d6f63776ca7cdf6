package processor_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
)

// A Manager holds one processor per stream in one file; the factory gives
// each stream its own dispatcher and options, the options given to
// OpenManager apply to all of them, and one Subscribe hears every stream.
func ExampleOpenManager() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)

	var mu sync.Mutex
	var lines []string
	factory := func(stream string) (dispatcher.Dispatcher[click], []processor.Option, error) {
		send := dispatcher.Func[click](func(ctx context.Context, b *dispatcher.Batch[click]) error {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range b.Events {
				lines = append(lines, b.Stream+": "+ev.Value.Button)
			}
			return nil
		})
		return send, nil, nil
	}
	m, err := processor.OpenManager[click](filepath.Join(dir, "events.wal"), factory, 0, nil,
		processor.WithBatchSize(100))
	if err != nil {
		fmt.Println(err)
		return
	}
	delivered := 0
	m.Subscribe(processor.BatchDispatched, func(n processor.Notification) {
		mu.Lock()
		delivered += n.Delivered
		mu.Unlock()
	})
	ctx := context.Background()
	_ = m.Enqueue(ctx, "web", click{"buy"})
	_ = m.EnqueueMany(ctx, "mobile", []click{{"open"}, {"close"}})
	_ = m.Flush(ctx) // every active stream
	_ = m.Stop(ctx)  // stops every stream, then closes the file

	mu.Lock()
	defer mu.Unlock()
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Println("delivered:", delivered)
	// Output:
	// mobile: close
	// mobile: open
	// web: buy
	// delivered: 3
}
