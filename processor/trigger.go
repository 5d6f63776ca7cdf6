package processor

// Trigger is what made the processor seal a batch: the flush trigger a
// BatchDispatched notification carries. A batch keeps its trigger across
// its retries.
type Trigger string

const (
	// TriggerBatchSize: the pending events reached the batch size.
	TriggerBatchSize Trigger = "batch_size"
	// TriggerBatchBytes: the pending bytes reached the batch byte limit.
	TriggerBatchBytes Trigger = "batch_bytes"
	// TriggerKeyChange: an event with another batch key closed the run.
	TriggerKeyChange Trigger = "key_change"
	// TriggerMaxAge: the oldest pending event reached the max age.
	TriggerMaxAge Trigger = "max_age"
	// TriggerInactivity: nothing was enqueued for the inactivity period.
	TriggerInactivity Trigger = "inactivity"
	// TriggerFlush: a Flush (or Drain) asked for it.
	TriggerFlush Trigger = "flush"
	// TriggerStop: Stop drained the stream.
	TriggerStop Trigger = "stop"
	// TriggerRecovered: an earlier run sealed the batch and left it in
	// flight; this run dispatches it again.
	TriggerRecovered Trigger = "recovered"
)
