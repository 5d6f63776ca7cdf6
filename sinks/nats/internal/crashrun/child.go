package crashrun

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

	"github.com/nats-io/nats.go"

	"github.com/walbatch/walbatch/processor"
	walnats "github.com/walbatch/walbatch/sinks/nats"
)

// Event is what the children enqueue; N is unique across runs.
type Event struct {
	N    int64  `msgpack:"n" json:"n"`
	Kind string `msgpack:"kind" json:"kind"`
	User string `msgpack:"user" json:"user"`
}

// ChildConfig is what one producing process does.
type ChildConfig struct {
	WAL       string
	URL       string
	From, To  int64 // event numbers [From, To)
	Producers int
}

// RunChild is the producing process: a real processor with the walnats
// dispatcher, many goroutines enqueueing, a line "ack N" written to out
// after each Enqueue returned nil, and "dropped N" whenever the count of
// PubAcks with Duplicate set grows. At the end it flushes, stops and
// writes "done". The parent kills it with SIGKILL at a moment of its
// choosing.
func RunChild(ctx context.Context, cfg ChildConfig, out io.Writer) error {
	nc, err := nats.Connect(cfg.URL)
	if err != nil {
		return err
	}
	defer nc.Close()
	popts := []processor.Option{
		processor.WithBatchSize(50),
		processor.WithInactiveTimeout(20 * time.Millisecond),
		processor.WithMaxAge(200 * time.Millisecond),
		processor.WithRetryDelay(20*time.Millisecond, 500*time.Millisecond),
		processor.WithDispatchTimeout(5 * time.Second),
		processor.WithStopTimeout(30 * time.Second),
		processor.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
	horizon, err := processor.RetryHorizon(popts...)
	if err != nil {
		return err
	}
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	d, err := walnats.New[Event](nctx, nc, Stream, Subject, walnats.WithRetryHorizon(horizon), walnats.WithBody(walnats.JSON[Event]),
		walnats.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	cancel()
	if err != nil {
		return err
	}
	p, err := processor.Open[Event](cfg.WAL, d, popts...)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, format+"\n", args...)
		w.Flush()
	}
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var last int64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if n := d.Stats().Duplicates; n != last {
				last = n
				say("dropped %d", n)
			}
			select {
			case <-stopWatch:
				return
			case <-t.C:
			}
		}
	}()
	next := atomic.Int64{}
	next.Store(cfg.From)
	kinds := []string{"page_view", "click", "signup", "purchase"}
	var wg sync.WaitGroup
	errs := make(chan error, max(cfg.Producers, 1))
	for range max(cfg.Producers, 1) {
		wg.Go(func() {
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
				say("ack %d", n)
			}
		})
	}
	wg.Wait()
	close(errs)
	err = <-errs
	if err == nil {
		err = p.Flush(ctx)
	}
	if serr := p.Stop(ctx); err == nil {
		err = serr
	}
	close(stopWatch)
	<-watched
	if n := d.Stats().Duplicates; err == nil {
		say("dropped %d", n)
		say("done")
	}
	return err
}

// ParseChildArgs parses the arguments Run passes to ChildCommand.
func ParseChildArgs(args []string) (ChildConfig, error) {
	var cfg ChildConfig
	fs := flag.NewFlagSet("walnats-demo-child", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.WAL, "wal", "", "WAL file")
	fs.StringVar(&cfg.URL, "url", "", "nats-server URL")
	fs.Int64Var(&cfg.From, "from", 0, "first event number")
	fs.Int64Var(&cfg.To, "to", 0, "end of event numbers")
	fs.IntVar(&cfg.Producers, "producers", 8, "enqueueing goroutines")
	if err := fs.Parse(args); err != nil {
		return cfg, fmt.Errorf("walnats demo child: %w", err)
	}
	if cfg.WAL == "" || cfg.URL == "" || cfg.To < cfg.From {
		return cfg, fmt.Errorf("walnats demo child: --wal, --url and --from <= --to are required")
	}
	return cfg, nil
}
