package torture

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// Event is what the torture producers enqueue. K is unique over the whole
// run ("r12-s1-345"; a trailing "-x" marks a poison event, which the
// receiver refuses with a permanent 400). Pad varies the payload size.
type Event struct {
	K   string `msgpack:"k" json:"k"`
	Pad string `msgpack:"p,omitempty" json:"p,omitempty"`
}

// poison reports whether the receiver refuses k for good.
func poison(k string) bool { return strings.HasSuffix(k, "-x") }

// ChildConfig is what one child process does.
type ChildConfig struct {
	WAL         string
	URL         string
	Run         int     // the run number, the prefix of event keys
	Streams     int     // streams s0..s<n-1>, one processor each
	BatchSizes  []int   // per stream (cycled)
	Producers   int     // enqueueing goroutines
	Events      int     // events to enqueue in all (0: drain only)
	PoisonRate  float64 // fraction of events the receiver refuses for good
	MaxRetries  int
	HTTPTimeout time.Duration
	Compact     bool // run store.CompactFile before opening
	AutoCompact bool // open with automatic compaction at a low threshold
	Seed        uint64
}

// Args returns the command-line form of c, as ParseChildArgs reads it.
func (c ChildConfig) Args() []string {
	sizes := make([]string, len(c.BatchSizes))
	for i, n := range c.BatchSizes {
		sizes[i] = strconv.Itoa(n)
	}
	return []string{"-wal", c.WAL, "-url", c.URL, "-run", strconv.Itoa(c.Run),
		"-streams", strconv.Itoa(c.Streams), "-batch-sizes", strings.Join(sizes, ","),
		"-producers", strconv.Itoa(c.Producers), "-events", strconv.Itoa(c.Events),
		"-poison", strconv.FormatFloat(c.PoisonRate, 'g', -1, 64),
		"-max-retries", strconv.Itoa(c.MaxRetries), "-http-timeout", c.HTTPTimeout.String(),
		"-compact=" + strconv.FormatBool(c.Compact), "-auto-compact=" + strconv.FormatBool(c.AutoCompact),
		"-seed", strconv.FormatUint(c.Seed, 10)}
}

// ParseChildArgs parses the arguments of a child process.
func ParseChildArgs(args []string) (ChildConfig, error) {
	var c ChildConfig
	var sizes string
	fs := flag.NewFlagSet("torture-child", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.WAL, "wal", "", "")
	fs.StringVar(&c.URL, "url", "", "")
	fs.IntVar(&c.Run, "run", 0, "")
	fs.IntVar(&c.Streams, "streams", 1, "")
	fs.StringVar(&sizes, "batch-sizes", "100", "")
	fs.IntVar(&c.Producers, "producers", 4, "")
	fs.IntVar(&c.Events, "events", 0, "")
	fs.Float64Var(&c.PoisonRate, "poison", 0, "")
	fs.IntVar(&c.MaxRetries, "max-retries", 10, "")
	fs.DurationVar(&c.HTTPTimeout, "http-timeout", 300*time.Millisecond, "")
	fs.BoolVar(&c.Compact, "compact", false, "")
	fs.BoolVar(&c.AutoCompact, "auto-compact", false, "")
	fs.Uint64Var(&c.Seed, "seed", 1, "")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("torture-child: %w", err)
	}
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return c, fmt.Errorf("torture-child: bad batch size %q", f)
		}
		c.BatchSizes = append(c.BatchSizes, n)
	}
	if c.WAL == "" || c.URL == "" || c.Streams < 1 || c.Producers < 1 {
		return c, errors.New("torture-child: -wal, -url, -streams >= 1 and -producers >= 1 are required")
	}
	return c, nil
}

// A child reports what it is doing on stdout, one line at a time; the
// parent reads the last status line to tell what a kill interrupted.
const (
	lineCompactStart = "compact start"
	lineCompactDone  = "compact done"
	lineReady        = "ready"    // processors open: recovery done
	lineDrain        = "drain"    // producers finished: flushing
	lineStopping     = "stopping" // Stop called
	lineDone         = "done"     // everything stopped and closed
	lineNoSpace      = "nospace"  // an enqueue failed: disk full; retried
	lineAck          = "ack "     // "ack K1 K2 ...": Enqueue(Many) returned nil
	lineCompactErr   = "compact error "
	lineOutstanding  = "outstanding "
)

// RunChild is one child process: it optionally compacts the WAL, opens it
// with one processor per stream (HTTP dispatcher to the parent's receiver),
// enqueues cfg.Events events from many goroutines (single events and
// EnqueueMany groups), writes "ack" lines as Enqueue returns nil, flushes,
// stops and writes "done". With Events 0 it drains: it flushes until no
// stream has anything pending or in flight. The parent kills it whenever it
// likes.
func RunChild(ctx context.Context, c ChildConfig, stdout io.Writer) error {
	w := &lineWriter{w: bufio.NewWriter(stdout)}
	if _, err := os.Stat(c.WAL); err == nil && c.Compact {
		w.line(lineCompactStart)
		if _, err := store.CompactFile(c.WAL, "", nil); err != nil {
			if !errors.Is(err, store.ErrNoSpace) {
				return fmt.Errorf("torture-child: compact: %w", err)
			}
			w.line(lineCompactErr + oneLine(err))
		} else {
			w.line(lineCompactDone)
		}
	}
	wo := &wal.Options{LockTimeout: 5 * time.Second}
	if c.AutoCompact {
		wo.Store = store.Options{AutoCompactRatio: 0.3, AutoCompactMinSize: 256 << 10}
	}
	l, err := wal.Open(c.WAL, wo)
	if err != nil {
		return fmt.Errorf("torture-child: open: %w", err)
	}
	defer l.Close()
	names := map[string]bool{}
	for i := range c.Streams {
		names[fmt.Sprintf("s%d", i)] = true
	}
	for _, n := range l.Streams() {
		names[n] = true // drain what earlier runs left in any stream
	}
	procs := map[string]*processor.Processor[Event]{}
	var order []string
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	i := 0
	for name := range names {
		d, err := dispatcher.NewHTTP[Event](c.URL+"/"+name, dispatcher.WithTimeout(c.HTTPTimeout),
			dispatcher.WithMaxRetryAfter(2*time.Second))
		if err != nil {
			return err
		}
		p, err := processor.New[Event](l, d,
			processor.WithStream(name),
			processor.WithBatchSize(c.BatchSizes[i%len(c.BatchSizes)]),
			processor.WithInactiveTimeout(20*time.Millisecond),
			processor.WithMaxAge(200*time.Millisecond),
			processor.WithRetryDelay(10*time.Millisecond, 300*time.Millisecond),
			processor.WithMaxRetries(c.MaxRetries),
			processor.WithDispatchTimeout(5*time.Second),
			processor.WithStopTimeout(2*time.Second),
			// Bounded backlog: producers wait (Block) rather than fill
			// the small disk with events a failing sink cannot take.
			processor.WithPendingLimits(max(int64(8000/len(names)), 1000), 3<<20/int64(len(names))),
			processor.WithLogger(logger))
		if err != nil {
			return fmt.Errorf("torture-child: stream %s: %w", name, err)
		}
		procs[name] = p
		order = append(order, name)
		i++
	}
	// Events a stream leaves are no failure: the outstanding line counts
	// them and the next run delivers them. Any other Stop error is one.
	stopAll := func() error {
		w.line(lineStopping)
		var errs []error
		for _, n := range order {
			errs = append(errs, processor.WithoutUndelivered(procs[n].Stop(context.Background())))
		}
		return errors.Join(errs...)
	}
	w.line(lineReady)
	if c.Events > 0 {
		if err := produce(ctx, c, procs, w); err != nil {
			_ = stopAll()
			return err
		}
	}
	w.line(lineDrain)
	drainFor := 3 * time.Second
	if c.Events == 0 {
		drainFor = 2 * time.Minute
	}
	left, err := drain(ctx, procs, drainFor)
	if err != nil {
		_ = stopAll()
		return err
	}
	w.line(lineOutstanding + strconv.FormatInt(left, 10))
	if err := stopAll(); err != nil {
		return fmt.Errorf("torture-child: stop: %w", err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("torture-child: close: %w", err)
	}
	w.line(lineDone)
	return nil
}

// produce enqueues c.Events events over the streams from c.Producers
// goroutines. A disk-full error is reported and the same events are tried
// again (they were not acknowledged); any other error ends the child.
func produce(ctx context.Context, c ChildConfig, procs map[string]*processor.Processor[Event], w *lineWriter) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, c.Producers)
	for g := range c.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(c.Seed, uint64(g)))
			for {
				n := int(rng.IntN(20)) + 1
				if rng.IntN(3) > 0 {
					n = 1 // mostly single enqueues, some EnqueueMany groups
				}
				first := next.Add(int64(n)) - int64(n)
				if first >= int64(c.Events) {
					return
				}
				n = min(n, c.Events-int(first))
				s := fmt.Sprintf("s%d", rng.IntN(c.Streams))
				evs := make([]Event, n)
				keys := make([]string, n)
				for i := range evs {
					k := fmt.Sprintf("r%d-%s-%d", c.Run, s, first+int64(i))
					if rng.Float64() < c.PoisonRate {
						k += "-x"
					}
					evs[i] = Event{K: k, Pad: strings.Repeat("p", rng.IntN(200))}
					keys[i] = k
				}
				for {
					var err error
					if n == 1 {
						err = procs[s].Enqueue(ctx, evs[0])
					} else {
						err = procs[s].EnqueueMany(ctx, evs)
					}
					if err == nil {
						w.line(lineAck + strings.Join(keys, " "))
						break
					}
					if errors.Is(err, store.ErrNoSpace) {
						w.line(lineNoSpace)
						time.Sleep(20 * time.Millisecond)
						continue
					}
					errc <- fmt.Errorf("torture-child: enqueue on %s: %w", s, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// drain flushes every processor until nothing is pending or in flight, or
// for at most d, and returns how many events are still outstanding.
func drain(ctx context.Context, procs map[string]*processor.Processor[Event], d time.Duration) (int64, error) {
	deadline := time.Now().Add(d)
	for {
		var left int64
		for _, p := range procs {
			ev, _ := p.Stream().Stats().Outstanding()
			left += ev
		}
		if left == 0 || time.Now().After(deadline) {
			return left, nil
		}
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fctx, cancel := context.WithDeadline(ctx, deadline)
				defer cancel()
				_ = p.Flush(fctx)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return left, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lineWriter writes whole lines from many goroutines, each flushed at once
// so that the parent sees it before a kill.
type lineWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (l *lineWriter) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.WriteString(s)
	l.w.WriteByte('\n')
	l.w.Flush()
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
