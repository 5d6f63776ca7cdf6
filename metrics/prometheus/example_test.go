package walprom_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/walbatch/walbatch/dispatcher"
	walprom "github.com/walbatch/walbatch/metrics/prometheus"
	"github.com/walbatch/walbatch/processor"
)

// A service exposes the metrics of every stream of its Manager in three
// lines: the collector, its registration, the handler.
func ExampleNewManagerCollector() {
	dir, _ := os.MkdirTemp("", "walprom")
	defer os.RemoveAll(dir)
	factory := func(string) (dispatcher.Dispatcher[string], []processor.Option, error) {
		return dispatcher.Func[string](func(context.Context, *dispatcher.Batch[string]) error { return nil }), nil, nil
	}
	m, err := processor.OpenManager[string](filepath.Join(dir, "events.wal"), factory, 0, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Stop(context.Background())

	reg := prometheus.NewRegistry()
	reg.MustRegister(walprom.NewManagerCollector(m))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ctx := context.Background()
	_ = m.EnqueueMany(ctx, "orders", []string{"a", "b", "c"})
	_ = m.Flush(ctx)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "walbatch_delivered_events_total") || strings.HasPrefix(line, "walbatch_pending_events") ||
			strings.HasPrefix(line, "walbatch_wal_committed_events_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// walbatch_delivered_events_total{stream="orders"} 3
	// walbatch_pending_events{stream="orders"} 0
	// walbatch_wal_committed_events_total 3
}
