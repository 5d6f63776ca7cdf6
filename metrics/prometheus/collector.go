package walprom

import (
	"cmp"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/wal"
)

// Option configures a collector.
type Option func(*config)

type config struct {
	maxStreams int
	file       bool
}

// WithMaxStreams caps how many streams are exported (0, the default, is
// no cap). Past the cap the streams with the largest backlog (pending,
// in flight and dead events) are kept, ties by name; the dispatch
// histograms of the others go under stream="_other", and
// walbatch_streams_omitted says how many were left out.
func WithMaxStreams(n int) Option { return func(c *config) { c.maxStreams = max(n, 0) } }

// WithFileMetrics(false) leaves out the walbatch_file_* and walbatch_wal_*
// metrics: for a second collector on a file another one exports already
// (several Processors sharing one wal.Log), which would otherwise collide.
func WithFileMetrics(on bool) Option { return func(c *config) { c.file = on } }

// Subscriber is a Processor or a Manager: what Collector.Subscribe feeds
// the dispatch metrics from.
type Subscriber interface {
	Subscribe(kind processor.Kind, fn processor.Listener) int
	Unsubscribe(id int) bool
}

// Collector is a prometheus.Collector of walbatch metrics. It is safe for
// concurrent use.
type Collector struct {
	cfg      config
	log      *wal.Log
	streams  func() []processor.Stats
	recovery func() []processor.RecoveryReport
	disp     *dispatches

	mu   sync.Mutex // guards subs
	subs map[Subscriber]int
}

// NewProcessorCollector exports p's stream, the file it is on, what
// recovery found at its open, and its dispatches (it subscribes to
// BatchDispatched; Close unsubscribes).
func NewProcessorCollector[T any](p *processor.Processor[T], opts ...Option) *Collector {
	c := newCollector(p.Stream().Log(), opts)
	c.streams = func() []processor.Stats { return []processor.Stats{p.Stats()} }
	c.recovery = func() []processor.RecoveryReport { return []processor.RecoveryReport{p.Recovery()} }
	c.Subscribe(p)
	return c
}

// NewManagerCollector exports every stream of m's file, active or not
// (Manager.Stats), the file, recovery per stream, and the dispatches of
// every stream (it subscribes to BatchDispatched; Close unsubscribes).
func NewManagerCollector[T any](m *processor.Manager[T], opts ...Option) *Collector {
	c := newCollector(m.Log(), opts)
	c.streams = func() []processor.Stats {
		all := m.Stats()
		out := make([]processor.Stats, 0, len(all))
		for _, st := range all {
			out = append(out, st)
		}
		return out
	}
	c.recovery = func() []processor.RecoveryReport {
		all := m.Recovery()
		out := make([]processor.RecoveryReport, 0, len(all))
		for name, r := range all {
			r.Stream = name
			out = append(out, r)
		}
		return out
	}
	c.Subscribe(m)
	return c
}

// NewLogCollector exports every stream of l and the file from the WAL's
// own counters (processor.StreamStats): no dispatch histograms and no
// per-processor counts, for a file whose processors the caller does not
// hold, or a read-only inspection.
func NewLogCollector(l *wal.Log, opts ...Option) *Collector {
	c := newCollector(l, opts)
	c.streams = func() []processor.Stats {
		var out []processor.Stats
		for _, name := range l.Streams() {
			if s, err := l.Stream(name); err == nil {
				out = append(out, processor.StreamStats(s.Stats()))
			}
		}
		return out
	}
	return c
}

func newCollector(l *wal.Log, opts []Option) *Collector {
	cfg := config{file: true}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return &Collector{cfg: cfg, log: l, disp: newDispatches(cfg.maxStreams), subs: map[Subscriber]int{}}
}

// Subscribe feeds the dispatch metrics (attempts by outcome, batches by
// trigger, latency and size histograms) from s's BatchDispatched
// notifications. The Processor and Manager collectors subscribe to their
// source themselves; a Log collector has none until this is called.
// Subscribing the same s twice does nothing.
func (c *Collector) Subscribe(s Subscriber) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.subs[s]; !ok {
		c.subs[s] = s.Subscribe(processor.BatchDispatched, c.disp.observe)
	}
}

// Close unsubscribes from every Subscriber: the dispatch metrics stop
// growing, and the collector still collects what it has.
func (c *Collector) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s, id := range c.subs {
		s.Unsubscribe(id)
		delete(c.subs, s)
	}
}

// Describe sends the descriptors of every metric. The dispatch metrics
// are described by their vectors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	c.disp.describe(ch)
}

// Collect reads the stats and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	streams := c.streams()
	omitted := 0
	if n := c.cfg.maxStreams; n > 0 && len(streams) > n {
		slices.SortFunc(streams, func(a, b processor.Stats) int {
			return cmp.Or(cmp.Compare(backlog(b), backlog(a)), cmp.Compare(a.Stream, b.Stream))
		})
		omitted = len(streams) - n
		streams = streams[:n]
	}
	kept := make(map[string]bool, len(streams))
	for _, st := range streams {
		kept[st.Stream] = true
		collectStream(ch, st)
	}
	ch <- gauge(descStreamsOmitted, float64(omitted))
	if c.recovery != nil {
		for _, r := range c.recovery() {
			if kept[r.Stream] {
				collectRecovery(ch, r)
			}
		}
	}
	if c.cfg.file && c.log != nil {
		collectFile(ch, c.log)
	}
	c.disp.collect(ch)
}

func backlog(s processor.Stats) int64 { return s.PendingEvents + s.InFlightEvents + s.DeadEvents }
