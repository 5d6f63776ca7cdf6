package processor

import (
	"fmt"
	"time"

	"github.com/walbatch/walbatch/recovery"
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
	// OldestPending is the enqueue time of the first event not completed
	// (the oldest, but for requeued dead letters; see
	// wal.Stats.OldestPending).
	OldestPending time.Time
	// Repaired lists what the checks at open fixed (see recovery.Plan).
	Repaired []string
	// Problems lists damage found at open that needs recovery.Repair on
	// the closed file; dispatching goes on meanwhile. An invalid meta page
	// (events acknowledged in the newest commit may be missing) is one:
	// the next commit rewrites that page, so stop the processor and
	// repair at once to restore what can be restored.
	Problems []string

	// redispatch are the in-flight batches recovery found sound, in seal
	// order: what the loop dispatches again. A damaged batch record (one
	// of Problems) is left out, and left in the file for Repair.
	redispatch []wal.Batch
}

func (r RecoveryReport) String() string {
	age := "none"
	if !r.OldestPending.IsZero() {
		age = max(time.Since(r.OldestPending), 0).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("stream %q: %d in-flight batches (%d events) to redispatch, %d pending events (%d bytes), %d dead, oldest %s",
		r.Stream, r.InFlightBatches, r.InFlightEvents, r.PendingEvents, r.PendingBytes, r.DeadEvents, age)
}

// recoverStream runs recovery.Plan on the stream, which fixes what its
// reads prove (counters, batch ranges) without a scan of the backlog, and
// reports what the stream holds. In-flight batches are loaded by the loop
// when it starts.
func recoverStream(s *wal.Stream) (RecoveryReport, error) {
	plan, err := recovery.Plan(s.Log(), &recovery.PlanOptions{Streams: []string{s.Name()}})
	if err != nil {
		return RecoveryReport{}, fmt.Errorf("processor: recovery of stream %q: %w", s.Name(), err)
	}
	st := s.Stats()
	rep := RecoveryReport{
		Stream:          s.Name(),
		InFlightBatches: int(st.InFlightBatches),
		InFlightEvents:  st.InFlightEvents,
		PendingEvents:   st.PendingEvents,
		PendingBytes:    st.PendingBytes,
		DeadEvents:      st.DeadEvents,
		OldestPending:   st.OldestPending,
	}
	rep.Repaired = append(rep.Repaired, plan.FileRepaired...)
	for _, p := range plan.File {
		rep.Problems = append(rep.Problems, p.String())
	}
	for _, sr := range plan.Streams {
		rep.redispatch = append(rep.redispatch, sr.Redispatch...)
		rep.Repaired = append(rep.Repaired, sr.Repaired...)
		for _, p := range sr.Problems {
			rep.Problems = append(rep.Problems, p.String())
		}
	}
	return rep, nil
}
