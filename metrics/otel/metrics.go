package walotel

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/wal"
)

// ScopeName is the instrumentation scope of the Meter the instruments are
// created on.
const ScopeName = "github.com/walbatch/walbatch/metrics/otel"

// Option configures the instruments.
type Option func(*config)

type config struct {
	maxStreams int
	file       bool
}

// WithMaxStreams caps how many streams are reported (0, the default, is
// no cap). Past the cap the streams with the largest backlog (pending, in
// flight and dead events) are kept, ties by name; the dispatch metrics of
// the others go under stream "_other", and walbatch.streams.omitted says
// how many were left out.
func WithMaxStreams(n int) Option { return func(c *config) { c.maxStreams = max(n, 0) } }

// WithFileMetrics(false) leaves out the walbatch.file.* and walbatch.wal.*
// instruments, for a second set on a file another one reports already.
func WithFileMetrics(on bool) Option { return func(c *config) { c.file = on } }

// Subscriber is a Processor or a Manager: what Metrics.Subscribe feeds the
// dispatch metrics from.
type Subscriber interface {
	Subscribe(kind processor.Kind, fn processor.Listener) int
	Unsubscribe(id int) bool
}

// Metrics is the set of instruments for one source. Close unregisters
// them.
type Metrics struct {
	cfg      config
	log      *wal.Log
	streams  func() []processor.Stats
	recovery func() []processor.RecoveryReport
	reg      metric.Registration

	attempts metric.Int64Counter
	batches  metric.Int64Counter
	latency  metric.Float64Histogram
	events   metric.Int64Histogram
	bytes    metric.Int64Histogram

	mu   sync.Mutex // guards subs, seen
	subs map[Subscriber]int
	seen map[string]bool
}

// NewProcessor reports p's stream, its file, what recovery found at its
// open, and its dispatches (it subscribes to BatchDispatched).
func NewProcessor[T any](mp metric.MeterProvider, p *processor.Processor[T], opts ...Option) (*Metrics, error) {
	m := newMetrics(p.Stream().Log(), opts)
	m.streams = func() []processor.Stats { return []processor.Stats{p.Stats()} }
	m.recovery = func() []processor.RecoveryReport { return []processor.RecoveryReport{p.Recovery()} }
	if err := m.register(mp); err != nil {
		return nil, err
	}
	m.Subscribe(p)
	return m, nil
}

// NewManager reports every stream of mgr's file, active or not
// (Manager.Stats), the file, recovery per stream, and the dispatches of
// every stream (it subscribes to BatchDispatched).
func NewManager[T any](mp metric.MeterProvider, mgr *processor.Manager[T], opts ...Option) (*Metrics, error) {
	m := newMetrics(mgr.Log(), opts)
	m.streams = func() []processor.Stats {
		all := mgr.Stats()
		out := make([]processor.Stats, 0, len(all))
		for _, st := range all {
			out = append(out, st)
		}
		return out
	}
	m.recovery = func() []processor.RecoveryReport {
		all := mgr.Recovery()
		out := make([]processor.RecoveryReport, 0, len(all))
		for name, r := range all {
			r.Stream = name
			out = append(out, r)
		}
		return out
	}
	if err := m.register(mp); err != nil {
		return nil, err
	}
	m.Subscribe(mgr)
	return m, nil
}

// NewLog reports every stream of l and the file from the WAL's own
// counters (processor.StreamStats); dispatch metrics only from what
// Subscribe is given.
func NewLog(mp metric.MeterProvider, l *wal.Log, opts ...Option) (*Metrics, error) {
	m := newMetrics(l, opts)
	m.streams = func() []processor.Stats {
		var out []processor.Stats
		for _, name := range l.Streams() {
			if s, err := l.Stream(name); err == nil {
				out = append(out, processor.StreamStats(s.Stats()))
			}
		}
		return out
	}
	if err := m.register(mp); err != nil {
		return nil, err
	}
	return m, nil
}

func newMetrics(l *wal.Log, opts []Option) *Metrics {
	cfg := config{file: true}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return &Metrics{cfg: cfg, log: l, subs: map[Subscriber]int{}, seen: map[string]bool{}}
}

// Subscribe feeds the dispatch metrics from s's BatchDispatched
// notifications; subscribing the same s twice does nothing.
func (m *Metrics) Subscribe(s Subscriber) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subs[s]; !ok {
		m.subs[s] = s.Subscribe(processor.BatchDispatched, m.observe)
	}
}

// Close unsubscribes from every Subscriber and unregisters the callback
// of the observable instruments.
func (m *Metrics) Close() error {
	m.mu.Lock()
	for s, id := range m.subs {
		s.Unsubscribe(id)
		delete(m.subs, s)
	}
	m.mu.Unlock()
	return m.reg.Unregister()
}

// Outcomes of a dispatch attempt, the outcome attribute of
// walbatch.dispatch.attempts (the same as the Prometheus module's). They are processor.Outcome's.
const (
	OutcomeSuccess   = string(processor.OutcomeSuccess)
	OutcomePartial   = string(processor.OutcomePartial)
	OutcomePerEvent  = string(processor.OutcomePerEvent)
	OutcomeRetryable = string(processor.OutcomeRetryable)
	OutcomePermanent = string(processor.OutcomePermanent)
	OutcomePanic     = string(processor.OutcomePanic)
	OutcomeTimeout   = string(processor.OutcomeTimeout)
)

// Outcome classifies a BatchDispatched notification (see
// processor.Notification.Outcome).
func Outcome(n processor.Notification) string { return string(n.Outcome()) }

func (m *Metrics) observe(n processor.Notification) {
	if n.Kind != processor.BatchDispatched {
		return
	}
	ctx := context.Background()
	s := attribute.String("stream", m.label(n.Stream))
	set := metric.WithAttributes(s)
	m.attempts.Add(ctx, 1, metric.WithAttributes(s, attribute.String("outcome", Outcome(n))))
	if n.Attempt == 1 && n.Trigger != "" {
		m.batches.Add(ctx, 1, metric.WithAttributes(s, attribute.String("trigger", string(n.Trigger))))
	}
	m.latency.Record(ctx, n.Latency.Seconds(), set)
	m.events.Record(ctx, int64(n.Count), set)
	m.bytes.Record(ctx, n.Bytes, set)
}

func (m *Metrics) label(stream string) string {
	if m.cfg.maxStreams == 0 {
		return stream
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[stream] {
		return stream
	}
	if len(m.seen) >= m.cfg.maxStreams {
		return "_other"
	}
	m.seen[stream] = true
	return stream
}

// selected returns the streams to report and how many were left out.
func (m *Metrics) selected() ([]processor.Stats, int) {
	streams := m.streams()
	n := m.cfg.maxStreams
	if n == 0 || len(streams) <= n {
		return streams, 0
	}
	backlog := func(s processor.Stats) int64 { return s.PendingEvents + s.InFlightEvents + s.DeadEvents }
	slices.SortFunc(streams, func(a, b processor.Stats) int {
		return cmp.Or(cmp.Compare(backlog(b), backlog(a)), cmp.Compare(a.Stream, b.Stream))
	})
	return streams[:n], len(streams) - n
}
