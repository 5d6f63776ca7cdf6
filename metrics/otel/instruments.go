package walotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// register creates the instruments on mp's Meter and the callback of the
// observable ones.
func (m *Metrics) register(mp metric.MeterProvider) error {
	meter := mp.Meter(ScopeName)
	var errs []error
	ig := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	ic := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	var (
		pending     = ig("walbatch.events.pending", "{event}", "Events acknowledged and not yet in a batch.")
		pendingSize = ig("walbatch.pending.size", "By", "Payload bytes of the pending events.")
		inflightB   = ig("walbatch.batches.inflight", "{batch}", "Batches sealed and not yet completed.")
		inflight    = ig("walbatch.events.inflight", "{event}", "Events in in-flight batches.")
		inflightSz  = ig("walbatch.inflight.size", "By", "Payload bytes of the in-flight events.")
		dead        = ig("walbatch.events.dead", "{event}", "Events in the dead-letter store now.")
		deadSize    = ig("walbatch.dead.size", "By", "Payload bytes of the dead letters.")
		capEvents   = ig("walbatch.capacity.events", "{event}", "Pending limit in events; not reported when unlimited.")
		capSize     = ig("walbatch.capacity.size", "By", "Pending limit in payload bytes; not reported when unlimited.")
		delivered   = ic("walbatch.events.delivered", "{event}", "Events completed since the stream was created (persisted).")
		retried     = ic("walbatch.attempts.retried", "{attempt}", "Failed attempts scheduled for a retry, since the file was opened.")
		deadLet     = ic("walbatch.events.dead_lettered", "{event}", "Events moved to dead letters, since the file was opened.")
		refused     = ic("walbatch.enqueues.refused", "{call}", "Appends refused with ErrFull, since the file was opened.")
		omitted     = ig("walbatch.streams.omitted", "{stream}", "Streams left out by WithMaxStreams.")
		recInFlight = ig("walbatch.recovery.inflight", "{batch}", "In-flight batches found at open, dispatched again.")
		recPending  = ig("walbatch.recovery.pending", "{event}", "Pending events found at open.")
		recDead     = ig("walbatch.recovery.dead", "{event}", "Dead letters found at open.")
		recProblems = ig("walbatch.recovery.problems", "{problem}", "Damage found at open that needs walctl repair.")
		fileSize    = ig("walbatch.file.size", "By", "Size of the WAL file on disk.")
		fileFree    = ig("walbatch.file.free", "By", "Bytes in free pages of the WAL file.")
		commits     = ic("walbatch.wal.commits", "{commit}", "Commits of the WAL file (appends and batch transitions; one pair of fsyncs each under SyncAlways), since the file was opened.")
		committed   = ic("walbatch.wal.committed_events", "{event}", "Events appended by the commits, since the file was opened.")
		transitions = ic("walbatch.wal.transitions", "{transition}", "Batch transitions (seal, complete, retry, dead letter and the others) the commits applied, since the file was opened.")
	)
	oldest, err := meter.Float64ObservableGauge("walbatch.oldest_pending.age", metric.WithUnit("s"),
		metric.WithDescription("Age of the first event not completed: the oldest, but for requeued dead letters, which count once they are first; 0 when none."))
	errs = append(errs, err)
	commitTime, err := meter.Float64ObservableCounter("walbatch.wal.commit.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent in the commits' write transactions, fsyncs included."))
	errs = append(errs, err)

	m.attempts, err = meter.Int64Counter("walbatch.dispatch.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Dispatch attempts by outcome."))
	errs = append(errs, err)
	m.batches, err = meter.Int64Counter("walbatch.batches", metric.WithUnit("{batch}"),
		metric.WithDescription("Batches dispatched for the first time, by what sealed them."))
	errs = append(errs, err)
	m.latency, err = meter.Float64Histogram("walbatch.dispatch.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the dispatcher's call, per attempt."),
		metric.WithExplicitBucketBoundaries(.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
	errs = append(errs, err)
	m.events, err = meter.Int64Histogram("walbatch.batch.events", metric.WithUnit("{event}"),
		metric.WithDescription("Events per dispatch attempt."),
		metric.WithExplicitBucketBoundaries(1, 4, 16, 64, 256, 1024, 4096, 16384))
	errs = append(errs, err)
	m.bytes, err = meter.Int64Histogram("walbatch.batch.size", metric.WithUnit("By"),
		metric.WithDescription("Payload bytes per dispatch attempt."),
		metric.WithExplicitBucketBoundaries(256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}

	observables := []metric.Observable{pending, pendingSize, inflightB, inflight, inflightSz, dead, deadSize,
		capEvents, capSize, delivered, retried, deadLet, refused, omitted, recInFlight, recPending, recDead,
		recProblems, oldest}
	if m.cfg.file {
		observables = append(observables, fileSize, fileFree, commits, committed, transitions, commitTime)
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		streams, left := m.selected()
		kept := make(map[string]bool, len(streams))
		for _, st := range streams {
			kept[st.Stream] = true
			a := metric.WithAttributes(attribute.String("stream", st.Stream))
			o.ObserveInt64(pending, st.PendingEvents, a)
			o.ObserveInt64(pendingSize, st.PendingBytes, a)
			o.ObserveInt64(inflightB, st.InFlightBatches, a)
			o.ObserveInt64(inflight, st.InFlightEvents, a)
			o.ObserveInt64(inflightSz, st.InFlightBytes, a)
			o.ObserveInt64(dead, st.DeadEvents, a)
			o.ObserveInt64(deadSize, st.DeadBytes, a)
			o.ObserveFloat64(oldest, st.OldestPendingAge.Seconds(), a)
			if st.MaxPendingEvents > 0 {
				o.ObserveInt64(capEvents, st.MaxPendingEvents, a)
			}
			if st.MaxPendingBytes > 0 {
				o.ObserveInt64(capSize, st.MaxPendingBytes, a)
			}
			o.ObserveInt64(delivered, st.DeliveredTotal, a)
			o.ObserveInt64(retried, st.RetriedSinceOpen, a)
			o.ObserveInt64(deadLet, st.DeadLetteredSinceOpen, a)
			o.ObserveInt64(refused, st.RefusedSinceOpen, a)
		}
		o.ObserveInt64(omitted, int64(left))
		if m.recovery != nil {
			for _, r := range m.recovery() {
				if !kept[r.Stream] {
					continue
				}
				a := metric.WithAttributes(attribute.String("stream", r.Stream))
				o.ObserveInt64(recInFlight, int64(r.InFlightBatches), a)
				o.ObserveInt64(recPending, r.PendingEvents, a)
				o.ObserveInt64(recDead, r.DeadEvents, a)
				o.ObserveInt64(recProblems, int64(len(r.Problems)), a)
			}
		}
		if m.cfg.file && m.log != nil {
			if fs, err := m.log.Store().FileStats(); err == nil {
				o.ObserveInt64(fileSize, fs.FileSize)
				o.ObserveInt64(fileFree, fs.FreeBytes)
			}
			cs := m.log.CommitStats()
			o.ObserveInt64(commits, cs.Commits)
			o.ObserveInt64(committed, cs.Events)
			o.ObserveInt64(transitions, cs.Transitions)
			o.ObserveFloat64(commitTime, cs.Time.Seconds())
		}
		return nil
	}, observables...)
	return err
}
