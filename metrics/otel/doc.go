// Package walotel exports walbatch's metrics as OpenTelemetry instruments
// on a MeterProvider the caller passes: observable gauges and counters read
// at each collection for every stream of a Processor, a Manager or a whole
// WAL file, and a counter and histograms fed by BatchDispatched
// notifications.
//
//	m, err := walotel.NewManager(provider, mgr)
//	if err != nil { ... }
//	defer m.Close()
//
// Names follow OpenTelemetry's conventions (walbatch.events.pending, unit
// {event}; bytes in "By", durations in "s"), with a "stream" attribute.
// docs/operations.md, "Monitoring", maps them to the Prometheus names.
//
// It is a module of its own, so walbatch's core does not depend on
// OpenTelemetry.
package walotel
