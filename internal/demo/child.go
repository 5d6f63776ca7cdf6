package demo

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
)

// ChildConfig is what one producing process does.
type ChildConfig struct {
	WAL       string
	URL       string
	From, To  int64 // event numbers [From, To)
	Producers int
}

// RunChild is the producing process: a real processor with the HTTP
// dispatcher, many goroutines enqueueing, and a line "ack N" written to out
// after each Enqueue returned nil. At the end it flushes, stops and writes
// "done". The parent kills it with SIGKILL at a moment of its choosing.
func RunChild(ctx context.Context, cfg ChildConfig, out io.Writer) error {
	d, err := dispatcher.NewHTTP[Event](cfg.URL, dispatcher.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	p, err := processor.Open[Event](cfg.WAL, d,
		processor.WithBatchSize(200),
		processor.WithInactiveTimeout(50*time.Millisecond),
		processor.WithMaxAge(500*time.Millisecond),
		processor.WithRetryDelay(20*time.Millisecond, 500*time.Millisecond),
		processor.WithStopTimeout(30*time.Second),
		processor.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	var mu sync.Mutex
	next := atomic.Int64{}
	next.Store(cfg.From)
	kinds := []string{"page_view", "click", "signup", "purchase"}
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Producers)
	for g := 0; g < max(cfg.Producers, 1); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1) - 1
				if n >= cfg.To {
					return
				}
				ev := Event{N: n, Kind: kinds[n%int64(len(kinds))], User: fmt.Sprintf("user-%d", n%97)}
				if err := p.Enqueue(ctx, ev); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				fmt.Fprintf(w, "ack %d\n", n)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		_ = p.Stop(ctx)
		return err
	}
	if err := p.Flush(ctx); err != nil {
		_ = p.Stop(ctx)
		return err
	}
	if err := p.Stop(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "done")
	return w.Flush()
}

// ParseChildArgs parses the arguments Run passes to ChildCommand.
func ParseChildArgs(args []string) (ChildConfig, error) {
	var cfg ChildConfig
	fs := flag.NewFlagSet("demo-child", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.WAL, "wal", "", "WAL file")
	fs.StringVar(&cfg.URL, "url", "", "collector URL")
	fs.Int64Var(&cfg.From, "from", 0, "first event number")
	fs.Int64Var(&cfg.To, "to", 0, "end of event numbers")
	fs.IntVar(&cfg.Producers, "producers", 8, "enqueueing goroutines")
	if err := fs.Parse(args); err != nil {
		return cfg, fmt.Errorf("demo-child: %w", err)
	}
	if cfg.WAL == "" || cfg.URL == "" || cfg.To < cfg.From {
		return cfg, fmt.Errorf("demo-child: --wal, --url and --from <= --to are required")
	}
	return cfg, nil
}
