package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
)

type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

// jsonOrders stores orders as JSON: the dispatcher can post Event.Payload
// as it is, and walctl dump shows it as JSON.
type jsonOrders struct{}

func (jsonOrders) ContentType() string                { return "application/json" }
func (jsonOrders) Marshal(o order) ([]byte, error)    { return json.Marshal(o) }
func (jsonOrders) Unmarshal(b []byte, o *order) error { return json.Unmarshal(b, o) }

func ExampleWithCodec() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)

	send := dispatcher.Func[order](func(ctx context.Context, b *dispatcher.Batch[order]) error {
		for _, ev := range b.Events {
			fmt.Printf("%s total %d stored as %s\n", ev.Value.ID, ev.Value.Total, ev.Payload)
		}
		return nil
	})
	p, err := processor.Open[order](filepath.Join(dir, "orders.wal"), send, processor.WithCodec(jsonOrders{}))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	_ = p.Enqueue(ctx, order{ID: "o-1", Total: 42})
	fmt.Println("stream codec:", p.Stream().Codec())
	_ = p.Stop(ctx)
	// Output:
	// stream codec: application/json
	// o-1 total 42 stored as {"id":"o-1","total":42}
}
