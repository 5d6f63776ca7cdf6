package walprom

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walbatch/walbatch/processor"
)

// Outcomes of a dispatch attempt, the outcome label of
// walbatch_dispatch_attempts_total. They are processor.Outcome's.
const (
	OutcomeSuccess   = string(processor.OutcomeSuccess)
	OutcomePartial   = string(processor.OutcomePartial)
	OutcomePerEvent  = string(processor.OutcomePerEvent)
	OutcomeRetryable = string(processor.OutcomeRetryable)
	OutcomePermanent = string(processor.OutcomePermanent)
	OutcomePanic     = string(processor.OutcomePanic)
	OutcomeTimeout   = string(processor.OutcomeTimeout)
)

// otherStream labels the dispatches of streams past WithMaxStreams.
const otherStream = "_other"

// Outcome classifies a BatchDispatched notification (see
// processor.Notification.Outcome).
func Outcome(n processor.Notification) string { return string(n.Outcome()) }

// dispatches holds the metrics fed by BatchDispatched notifications:
// attempts by outcome, batches by the trigger that sealed them, and
// histograms of dispatch latency and batch size.
type dispatches struct {
	attempts *prometheus.CounterVec
	batches  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	events   *prometheus.HistogramVec
	bytes    *prometheus.HistogramVec

	max  int
	mu   sync.Mutex // guards seen
	seen map[string]bool
}

func newDispatches(maxStreams int) *dispatches {
	return &dispatches{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walbatch_dispatch_attempts_total",
			Help: "Dispatch attempts by outcome."}, []string{"stream", "outcome"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "walbatch_batches_total",
			Help: "Batches dispatched for the first time, by what sealed them."}, []string{"stream", "trigger"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "walbatch_dispatch_duration_seconds",
			Help:    "Duration of the dispatcher's call, per attempt.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"stream"}),
		events: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "walbatch_batch_events",
			Help:    "Events per dispatch attempt.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8)}, []string{"stream"}),
		bytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "walbatch_batch_bytes",
			Help:    "Payload bytes per dispatch attempt.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9)}, []string{"stream"}),
		max:  maxStreams,
		seen: map[string]bool{},
	}
}

// observe records one notification; other kinds than BatchDispatched are
// ignored.
func (d *dispatches) observe(n processor.Notification) {
	if n.Kind != processor.BatchDispatched {
		return
	}
	s := d.label(n.Stream)
	d.attempts.WithLabelValues(s, Outcome(n)).Inc()
	if n.Attempt == 1 && n.Trigger != "" {
		d.batches.WithLabelValues(s, string(n.Trigger)).Inc()
	}
	d.latency.WithLabelValues(s).Observe(n.Latency.Seconds())
	d.events.WithLabelValues(s).Observe(float64(n.Count))
	d.bytes.WithLabelValues(s).Observe(float64(n.Bytes))
}

// label caps the stream label values at max distinct streams.
func (d *dispatches) label(stream string) string {
	if d.max == 0 {
		return stream
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[stream] {
		return stream
	}
	if len(d.seen) >= d.max {
		return otherStream
	}
	d.seen[stream] = true
	return stream
}

func (d *dispatches) describe(ch chan<- *prometheus.Desc) {
	d.attempts.Describe(ch)
	d.batches.Describe(ch)
	d.latency.Describe(ch)
	d.events.Describe(ch)
	d.bytes.Describe(ch)
}

func (d *dispatches) collect(ch chan<- prometheus.Metric) {
	d.attempts.Collect(ch)
	d.batches.Collect(ch)
	d.latency.Collect(ch)
	d.events.Collect(ch)
	d.bytes.Collect(ch)
}
