package processor

import (
	"fmt"
	"time"

	"github.com/walbatch/walbatch/wal"
)

// RecoveryReport is what a processor found in its stream at open: work a
// previous process left behind, to be dispatched again.
type RecoveryReport struct {
	Stream string
	// InFlightBatches were sealed and not completed: they are dispatched
	// again with the same batch IDs and attempt counts.
	InFlightBatches int
	InFlightEvents  int64
	// PendingEvents were acknowledged and not yet batched.
	PendingEvents int64
	PendingBytes  int64
	DeadEvents    int64
	// OldestPending is the enqueue time of the oldest event not completed.
	OldestPending time.Time
}

func (r RecoveryReport) String() string {
	age := "none"
	if !r.OldestPending.IsZero() {
		age = time.Since(r.OldestPending).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("stream %q: %d in-flight batches (%d events) to redispatch, %d pending events (%d bytes), %d dead, oldest %s",
		r.Stream, r.InFlightBatches, r.InFlightEvents, r.PendingEvents, r.PendingBytes, r.DeadEvents, age)
}

// recoverStream reads what the stream holds from its counters: O(1) in the
// backlog. In-flight batches are loaded by the loop when it starts.
func recoverStream(s *wal.Stream) (RecoveryReport, error) {
	st := s.Stats()
	return RecoveryReport{
		Stream:          s.Name(),
		InFlightBatches: int(st.InFlightBatches),
		InFlightEvents:  st.InFlightEvents,
		PendingEvents:   st.PendingEvents,
		PendingBytes:    st.PendingBytes,
		DeadEvents:      st.DeadEvents,
		OldestPending:   st.OldestPending,
	}, nil
}
