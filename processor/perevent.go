package processor

import (
	"errors"
	"fmt"
	"time"

	"github.com/walbatch/walbatch/wal"
)

// eventOutcome is one event's outcome as the dispatcher reported it, read
// once on the dispatch goroutine: the loop goroutine decides on these
// fields and calls none of the sink's error methods again, so an error
// whose Error or Unwrap panics when read a second time (state the sink
// freed after use) cannot take the process down.
type eventOutcome struct {
	failed    bool          // false: delivered
	permanent bool          // dispatcher.IsPermanent
	after     time.Duration // dispatcher.RetryAfter; 0 when none
	reason    string        // its Error()
}

// resolution is what a per-event result does to a batch: the events
// delivered, those dead-lettered (each with its reason), and those to try
// again, as indexes into the attempt's records.
type resolution struct {
	delivered []uint64
	dead      []wal.EventReason
	deadIdx   []int
	retry     []int
	delay     time.Duration // the longer of the backoff and the largest Retry-After among the retried
}

// resolve sorts the outcomes of attempt number attempts of recs: a
// permanent outcome dead-letters its event with its own reason; a
// retryable one keeps it in the batch, unless the attempt spent the retry
// budget, when it is dead-lettered too with "gave up after N attempts: "
// and its reason, as a whole batch would be. The retry waits the backoff,
// or longer when an event's sink asked for more (each Retry-After is
// honoured: the events share one retry time).
func (l *loop[T]) resolve(recs []wal.Record, outs []eventOutcome, attempts int) resolution {
	res := resolution{delay: l.backoff(attempts)}
	for i, o := range outs {
		switch {
		case !o.failed:
			res.delivered = append(res.delivered, recs[i].Seq)
		case o.permanent:
			res.dead = append(res.dead, wal.EventReason{Seq: recs[i].Seq, Reason: o.reason})
			res.deadIdx = append(res.deadIdx, i)
		default:
			res.retry = append(res.retry, i)
			if o.after > 0 {
				res.delay = max(res.delay, clampDelay(o.after))
			}
		}
	}
	if len(res.retry) > 0 && attempts > l.p.cfg.maxRetries {
		for _, i := range res.retry {
			res.dead = append(res.dead, wal.EventReason{Seq: recs[i].Seq,
				Reason: fmt.Sprintf("gave up after %d attempts: %s", attempts, outs[i].reason)})
			res.deadIdx = append(res.deadIdx, i)
		}
		res.retry = nil
	}
	return res
}

// applyPerEvent records a per-event result in the WAL in one transaction
// (wal.Stream.Resolve): the delivered events are completed, the permanent
// ones dead-lettered each with its reason, and the rest stay in the batch,
// the attempt counted and a retry scheduled (or dead-lettered too when the
// retry budget is spent). reason is cause's message, read on the dispatch
// goroutine. A failed write leaves the whole batch to be sent again (at
// least once), the attempt counted in memory. It runs on the loop
// goroutine.
func (l *loop[T]) applyPerEvent(ib *inflight, outs []eventOutcome, cause error, reason string) {
	p := l.p
	b, recs := ib.b, ib.recs
	attempts := b.Attempts + 1
	res := l.resolve(recs, outs, attempts)
	var next time.Time
	if len(res.retry) > 0 {
		next = time.Now().Add(res.delay)
	}
	nb, err := p.s.Resolve(b.Seq, res.delivered, res.dead, next, reason)
	if err != nil {
		p.cfg.logger.Error("walbatch: recording per-event outcomes failed; the batch will be sent again", "batch", b.ID, "err", err)
		ib.b.Attempts = attempts
		ib.b.NextAttempt = max(next.UnixNano(), l.afterWriteFailure())
		return
	}
	p.delivered.Add(int64(len(res.delivered)))
	p.deadLettered.Add(int64(len(res.dead)))
	p.freed()
	l.notifyDead(b, recs, res, attempts)
	if nb == nil {
		delete(l.batches, b.Seq)
		return
	}
	kept := make([]wal.Record, len(res.retry)) // a new slice: the result's is shared
	for j, i := range res.retry {
		kept[j] = recs[i]
	}
	ib.b, ib.recs = nb, kept
	p.retried.Add(1)
	if ok, left := p.logs.allow("retry\x00"+reason, time.Now()); ok {
		p.cfg.logger.Warn("walbatch: dispatch failed for some events; retry scheduled", "stream", p.cfg.stream, "batch", nb.ID,
			"attempt", attempts, "events", nb.Count, "err", reason, "next_attempt", next, "suppressed", left)
	}
	p.notes.emit(Notification{Kind: RetryScheduled, Stream: p.cfg.stream, BatchID: nb.ID, Count: nb.Count,
		Bytes: nb.Bytes, Attempt: attempts, Err: cause, NextAttempt: next})
}

// notifyDead tells listeners and the log about the events a per-event
// result dead-lettered: one DeadLettered notification (and at most one
// rate-limited WARN) per distinct reason, in the batch's order.
func (l *loop[T]) notifyDead(b *wal.Batch, recs []wal.Record, res resolution, attempts int) {
	p := l.p
	type set struct {
		count int
		bytes int64
	}
	var order []string
	sets := map[string]*set{}
	for j, ev := range res.dead {
		s := sets[ev.Reason]
		if s == nil {
			s = &set{}
			sets[ev.Reason] = s
			order = append(order, ev.Reason)
		}
		s.count++
		s.bytes += int64(len(recs[res.deadIdx[j]].Payload))
	}
	for _, reason := range order {
		s := sets[reason]
		p.notes.emit(Notification{Kind: DeadLettered, Stream: p.cfg.stream, BatchID: b.ID, Count: s.count,
			Bytes: s.bytes, Attempt: attempts, Err: errors.New(reason)})
		if ok, left := p.logs.allow("dead\x00"+reason, time.Now()); ok {
			p.cfg.logger.Warn("walbatch: events dead-lettered", "stream", p.cfg.stream, "batch", b.ID, "events", s.count, "reason", reason, "suppressed", left)
		}
	}
}

// countFailed counts the outcomes that are not deliveries.
func countFailed(outs []eventOutcome) int {
	n := 0
	for _, o := range outs {
		if o.failed {
			n++
		}
	}
	return n
}
