package walotel_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/walbatch/walbatch/dispatcher"
	walotel "github.com/walbatch/walbatch/metrics/otel"
	"github.com/walbatch/walbatch/processor"
)

// A service reports every stream of its Manager on its MeterProvider (here
// the SDK's, read by a ManualReader; in a service, one with an exporter).
func ExampleNewManager() {
	dir, _ := os.MkdirTemp("", "walotel")
	defer os.RemoveAll(dir)
	factory := func(string) (dispatcher.Dispatcher[string], []processor.Option, error) {
		return dispatcher.Func[string](func(context.Context, *dispatcher.Batch[string]) error { return nil }), nil, nil
	}
	mgr, err := processor.OpenManager[string](filepath.Join(dir, "events.wal"), factory, 0, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mgr.Stop(context.Background())
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	m, err := walotel.NewManager(provider, mgr)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	ctx := context.Background()
	_ = mgr.EnqueueMany(ctx, "orders", []string{"a", "b", "c"})
	_ = mgr.Flush(ctx)

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, met := range sm.Metrics {
			if met.Name != "walbatch.events.delivered" {
				continue
			}
			for _, p := range met.Data.(metricdata.Sum[int64]).DataPoints {
				stream, _ := p.Attributes.Value("stream")
				fmt.Printf("%s %s{stream=%q} %d\n", met.Name, met.Unit, stream.AsString(), p.Value)
			}
		}
	}
	// Output:
	// walbatch.events.delivered {event}{stream="orders"} 3
}
