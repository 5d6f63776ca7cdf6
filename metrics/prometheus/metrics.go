package walprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/wal"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("walbatch_"+name, help, labels, nil)
}

var (
	descPendingEvents   = desc("pending_events", "Events acknowledged and not yet in a batch.", "stream")
	descPendingBytes    = desc("pending_bytes", "Payload bytes of the pending events.", "stream")
	descInFlightBatches = desc("inflight_batches", "Batches sealed and not yet completed (dispatching or waiting to retry).", "stream")
	descInFlightEvents  = desc("inflight_events", "Events in in-flight batches.", "stream")
	descInFlightBytes   = desc("inflight_bytes", "Payload bytes of the in-flight events.", "stream")
	descDeadEvents      = desc("dead_events", "Events in the dead-letter store now.", "stream")
	descDeadBytes       = desc("dead_bytes", "Payload bytes of the dead letters.", "stream")
	descOldestAge       = desc("oldest_pending_age_seconds", "Age of the first event not completed (pending or in flight): the oldest, but for requeued dead letters, which count once they are first; 0 when none.", "stream")
	descCapEvents       = desc("capacity_events", "Pending limit in events (pending and in flight); absent when unlimited.", "stream")
	descCapBytes        = desc("capacity_bytes", "Pending limit in payload bytes; absent when unlimited.", "stream")
	descDelivered       = desc("delivered_events_total", "Events completed since the stream was created (persisted in the file).", "stream")
	descRetried         = desc("retried_attempts_total", "Failed attempts scheduled for a retry, since the file was opened.", "stream")
	descDeadLettered    = desc("dead_lettered_events_total", "Events moved to dead letters, since the file was opened.", "stream")
	descRefused         = desc("refused_total", "Appends refused with ErrFull at the pending limits, since the file was opened.", "stream")
	descStreamsOmitted  = desc("streams_omitted", "Streams left out by WithMaxStreams.")

	descRecInFlight = desc("recovery_inflight_batches", "In-flight batches found at open, dispatched again.", "stream")
	descRecPending  = desc("recovery_pending_events", "Pending events found at open.", "stream")
	descRecDead     = desc("recovery_dead_events", "Dead letters found at open.", "stream")
	descRecProblems = desc("recovery_problems", "Damage found at open that needs walctl repair on the closed file.", "stream")

	descFileSize   = desc("file_size_bytes", "Size of the WAL file on disk.")
	descFileFree   = desc("file_free_bytes", "Bytes in free pages of the WAL file, reusable without growing it.")
	descCommits    = desc("wal_commits_total", "Commits of the WAL file (appends and batch transitions; one pair of fsyncs each under SyncAlways), since the file was opened.")
	descCommitted  = desc("wal_committed_events_total", "Events appended by the commits, since the file was opened.")
	descTransits   = desc("wal_transitions_total", "Batch transitions (seal, complete, retry, dead letter and the others) the commits applied, since the file was opened.")
	descCommitTime = desc("wal_commit_seconds_total", "Time spent in the commits' write transactions, fsyncs included.")

	allDescs = []*prometheus.Desc{descPendingEvents, descPendingBytes, descInFlightBatches, descInFlightEvents,
		descInFlightBytes, descDeadEvents, descDeadBytes, descOldestAge, descCapEvents, descCapBytes, descDelivered,
		descRetried, descDeadLettered, descRefused, descStreamsOmitted, descRecInFlight, descRecPending, descRecDead,
		descRecProblems, descFileSize, descFileFree, descCommits, descCommitted, descTransits, descCommitTime}
)

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func collectStream(ch chan<- prometheus.Metric, st processor.Stats) {
	s := st.Stream
	ch <- gauge(descPendingEvents, float64(st.PendingEvents), s)
	ch <- gauge(descPendingBytes, float64(st.PendingBytes), s)
	ch <- gauge(descInFlightBatches, float64(st.InFlightBatches), s)
	ch <- gauge(descInFlightEvents, float64(st.InFlightEvents), s)
	ch <- gauge(descInFlightBytes, float64(st.InFlightBytes), s)
	ch <- gauge(descDeadEvents, float64(st.DeadEvents), s)
	ch <- gauge(descDeadBytes, float64(st.DeadBytes), s)
	ch <- gauge(descOldestAge, st.OldestPendingAge.Seconds(), s)
	if st.MaxPendingEvents > 0 {
		ch <- gauge(descCapEvents, float64(st.MaxPendingEvents), s)
	}
	if st.MaxPendingBytes > 0 {
		ch <- gauge(descCapBytes, float64(st.MaxPendingBytes), s)
	}
	ch <- counter(descDelivered, float64(st.DeliveredTotal), s)
	ch <- counter(descRetried, float64(st.RetriedSinceOpen), s)
	ch <- counter(descDeadLettered, float64(st.DeadLetteredSinceOpen), s)
	ch <- counter(descRefused, float64(st.RefusedSinceOpen), s)
}

func collectRecovery(ch chan<- prometheus.Metric, r processor.RecoveryReport) {
	s := r.Stream
	ch <- gauge(descRecInFlight, float64(r.InFlightBatches), s)
	ch <- gauge(descRecPending, float64(r.PendingEvents), s)
	ch <- gauge(descRecDead, float64(r.DeadEvents), s)
	ch <- gauge(descRecProblems, float64(len(r.Problems)), s)
}

func collectFile(ch chan<- prometheus.Metric, l *wal.Log) {
	if fs, err := l.Store().FileStats(); err == nil {
		ch <- gauge(descFileSize, float64(fs.FileSize))
		ch <- gauge(descFileFree, float64(fs.FreeBytes))
	}
	cs := l.CommitStats()
	ch <- counter(descCommits, float64(cs.Commits))
	ch <- counter(descCommitted, float64(cs.Events))
	ch <- counter(descTransits, float64(cs.Transitions))
	ch <- counter(descCommitTime, cs.Time.Seconds())
}
