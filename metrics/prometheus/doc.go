// Package walprom exports walbatch's metrics to Prometheus: a
// prometheus.Collector over a Processor, a Manager or a whole WAL file,
// which the caller registers on the registry of their choice.
//
//	c := walprom.NewManagerCollector(m)
//	prometheus.MustRegister(c)
//	http.Handle("/metrics", promhttp.Handler())
//
// Gauges and counters are read from the stats at each scrape (O(1) per
// stream, no disk access but a stat of the file); the dispatch histograms
// and attempt counters are fed by a BatchDispatched listener that the
// Processor and Manager collectors subscribe themselves (Close
// unsubscribes). docs/operations.md, "Monitoring", lists every metric and
// the alerts to set.
//
// It is a module of its own, so walbatch's core does not depend on
// client_golang.
package walprom
