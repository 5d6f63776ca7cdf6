package processor

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// dispatch runs one attempt of a batch on its own goroutine and reports the
// outcome to the loop.
func (l *loop[T]) dispatch(b *wal.Batch, recs []wal.Record) {
	defer l.wg.Done()
	r := result{seq: b.Seq, b: b, recs: recs}
	err := l.attempt(&r)
	r.canceled = err != nil && l.ctx.Err() != nil
	if err != nil {
		if r.v == nil { // not from the dispatcher's return: a panic, a read failure
			v := readVerdict(err, len(r.recs))
			r.v = &v
		}
		cause := err
		if r.v.unread {
			cause = nil
		}
		r.err = &attemptError{v: *r.v, cause: cause}
	}
	l.report(r)
}

// idLen is the length of an event ID as text (wal.EventID.String).
const idLen = 2 * len(wal.EventID{})

// eventIDs returns the IDs of recs as wal.EventID.String formats them, end
// to end in one string: one allocation per batch instead of one or two per
// event. A dispatcher that keeps an event's ID keeps its batch's IDs.
func eventIDs(recs []wal.Record) string {
	b := make([]byte, 0, idLen*len(recs))
	for i := range recs {
		b = hex.AppendEncode(b, recs[i].ID[:])
	}
	return string(b)
}

func (l *loop[T]) attempt(r *result) (err error) {
	p := l.p
	if r.recs == nil {
		recs, bad, err := p.s.ReadBatch(r.b)
		if err != nil {
			return fmt.Errorf("processor: read batch %s: %w", r.b.ID, err)
		}
		if len(bad) > 0 {
			nb, err := p.s.QuarantineInFlight(r.b.Seq, bad)
			if err != nil {
				return err
			}
			l.quarantined(r.b, nb, len(bad))
			if nb == nil {
				r.b = nil // nothing left to send
				return nil
			}
			r.b = nb
		}
		r.recs = recs
	}
	batch := &dispatcher.Batch[T]{ID: r.b.ID, Stream: p.cfg.stream, Attempt: r.b.Attempts + 1, Events: make([]dispatcher.Event[T], len(r.recs))}
	if bad := l.values(batch.Events, r.recs); len(bad) > 0 {
		if err := l.undecodable(r, batch, bad); err != nil {
			return err
		}
		if r.b == nil {
			return nil // nothing left to send
		}
	}
	ids := eventIDs(r.recs)
	for i, rec := range r.recs {
		ev := &batch.Events[i]
		ev.ID, ev.Seq, ev.EnqueuedAt, ev.Key, ev.Payload = ids[i*idLen:(i+1)*idLen], rec.Seq, rec.Time, rec.Key, rec.Payload
		ev.Headers = rec.Headers // from the record, also when the value came from the handoff
	}
	ctx, cancel := context.WithTimeout(l.ctx, p.cfg.dispatchTimeout)
	defer cancel()
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("%w: %v", ErrDispatcherPanicked, rec)
			if ok, left := p.logs.allow("panic\x00"+err.Error(), time.Now()); ok {
				p.cfg.logger.Error("walbatch: dispatcher panicked; the attempt counts as a retryable failure", "stream", p.cfg.stream,
					"batch", r.b.ID, "attempt", r.b.Attempts+1, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()), "suppressed", left)
			}
		}
	}()
	start := time.Now()
	err = p.d.Dispatch(ctx, batch)
	r.latency = time.Since(start)
	if err == nil {
		return nil
	}
	v := readVerdict(err, len(r.recs))
	if v.perEvent && countFailed(v.outs) == 0 {
		return nil // per-event outcomes saying every event was delivered are full delivery
	}
	r.v = &v
	return err
}

// quarantined counts, logs and notifies the corrupt records that
// QuarantineInFlight moved out of batch b (nb is what is left of it, nil
// when nothing is), as the other paths to dead letters do: Stats'
// DeadLettered and one DeadLettered notification wrapping wal.ErrRecord.
func (l *loop[T]) quarantined(b, nb *wal.Batch, bad int) {
	p := l.p
	count, bytes := b.Count, b.Bytes
	if nb != nil {
		count, bytes = b.Count-nb.Count, b.Bytes-nb.Bytes
	}
	p.deadLettered.Add(int64(count))
	p.freed()
	p.cfg.logger.Warn("walbatch: corrupt records of an in-flight batch moved to dead letters", "stream", p.cfg.stream, "batch", b.ID, "count", bad)
	p.notes.emit(Notification{Kind: DeadLettered, Stream: p.cfg.stream, BatchID: b.ID, Count: count, Bytes: bytes,
		Attempt: b.Attempts + 1, Err: fmt.Errorf("processor: %d record(s) of the batch fail their checksum (reason corrupt: ...): %w", count, wal.ErrRecord)})
}

// values fills in the Value of each event: from the handoff while it holds
// the event, else decoded from the record's payload. It returns the events
// that do not decode, in order (none, nearly always).
func (l *loop[T]) values(evs []dispatcher.Event[T], recs []wal.Record) []badEvent {
	missed := l.p.hot.takeBatch(recs, evs)
	l.p.handedOff.Add(int64(len(recs) - len(missed)))
	if len(missed) == 0 {
		return nil
	}
	dec := getBatchDecoder()
	defer dec.release()
	var bad []badEvent
	for _, i := range missed {
		if err := l.p.decodeEvent(dec, recs[i].Payload, &evs[i].Value); err != nil {
			bad = append(bad, badEvent{i: i, err: err})
		}
	}
	return bad
}

// badEvent is an event of an attempt that does not decode: its index in
// the attempt and why.
type badEvent struct {
	i   int
	err error
}

// undecodable moves the events of an attempt that do not decode into T to
// dead letters, each alone with reason "undecodable: ...", and takes them
// out of the attempt: the rest of the batch goes out in it. No retry can
// make them decode, and dead-lettering the whole batch would lose the
// good events; keeping them would fail the batch at every attempt and
// after every restart. r.b becomes nil when nothing is left to send.
func (l *loop[T]) undecodable(r *result, batch *dispatcher.Batch[T], bad []badEvent) error {
	p := l.p
	evs := make([]wal.EventReason, len(bad))
	for j, e := range bad {
		evs[j] = wal.EventReason{Seq: r.recs[e.i].Seq, Reason: "undecodable: " + strings.ReplaceAll(e.err.Error(), "\n", " ")}
	}
	nb, err := p.s.DeadLetterEvents(r.b.Seq, evs)
	if err != nil {
		return fmt.Errorf("processor: moving undecodable events of batch %s to dead letters: %w", r.b.ID, err)
	}
	p.deadLettered.Add(int64(len(bad)))
	p.freed()
	for j, e := range bad {
		rec := &r.recs[e.i]
		p.cfg.logger.Warn("walbatch: undecodable event moved to dead letters", "stream", p.cfg.stream, "batch", r.b.ID,
			"event", rec.ID.String(), "reason", evs[j].Reason)
		p.notes.emit(Notification{Kind: DeadLettered, Stream: p.cfg.stream, BatchID: r.b.ID, Count: 1,
			Bytes: int64(len(rec.Payload)), Attempt: r.b.Attempts + 1, Err: fmt.Errorf("%w: %s", ErrUndecodable, evs[j].Reason)})
	}
	r.b = nb
	if nb == nil {
		r.recs = nil
		return nil
	}
	// A new slice: the loop may hold the old one (ib.recs).
	recs := make([]wal.Record, 0, len(r.recs)-len(bad))
	kept := batch.Events[:0]
	j := 0
	for i := range r.recs {
		if j < len(bad) && bad[j].i == i {
			j++
			continue
		}
		recs = append(recs, r.recs[i])
		kept = append(kept, batch.Events[i])
	}
	clear(batch.Events[len(kept):])
	r.recs, batch.Events = recs, kept
	return nil
}

// apply records an attempt's outcome in the WAL: complete, partial, retry
// or dead letter. It runs on the loop goroutine.
func (l *loop[T]) apply(r result) {
	p := l.p
	l.running--
	ib := l.batches[r.seq]
	ib.running = false
	if r.b == nil { // every record was corrupt or undecodable and is in dead letters now
		delete(l.batches, r.seq)
		p.freed()
		return
	}
	ib.b, ib.recs = r.b, r.recs
	if r.canceled {
		return // Stop cut it short; it stays in flight for the next open
	}
	note := Notification{Kind: BatchDispatched, Stream: p.cfg.stream, BatchID: r.b.ID, Count: r.b.Count,
		Bytes: r.b.Bytes, Attempt: r.b.Attempts + 1, Latency: r.latency, Err: r.err, Trigger: ib.trigger}
	n := len(r.recs)
	if r.err == nil {
		note.Delivered = n
	} else if r.v.perEvent {
		note.Delivered = n - countFailed(r.v.outs)
	} else if r.v.partial {
		d := min(r.v.delivered, n)
		note.Delivered = d
		if d == n {
			r.err = nil // a partial result covering everything is full delivery
			note.Err = nil
		}
	}
	p.notes.emit(note)
	if r.err == nil {
		// Marked complete in the WAL by the next move (move.go), after
		// the next batch has been launched, with every other batch
		// delivered meanwhile.
		ib.delivered = true
		return
	}
	if r.v.perEvent {
		l.applyPerEvent(ib, r.v.outs, r.err, r.v.msg)
		return
	}
	if note.Delivered > 0 {
		nb, err := p.s.CompletePartial(r.seq, note.Delivered)
		if err != nil {
			p.cfg.logger.Error("walbatch: recording a partial delivery failed; the batch will be sent again", "batch", r.b.ID, "err", err)
			ib.b.NextAttempt = l.afterWriteFailure()
			return
		}
		p.delivered.Add(int64(note.Delivered))
		p.freed()
		if nb == nil {
			// The file's batch held no more than was delivered: it is
			// complete now.
			delete(l.batches, r.seq)
			return
		}
		ib.b, ib.recs = nb, ib.recs[note.Delivered:]
	}
	l.fail(ib, r.v, r.err)
}

// completeDelivered marks batches the sink accepted complete, sealing
// nothing new: the last thing the loop does when Stop's time is up, so a
// batch delivered just before the deadline is not sent again after the
// next open. A failure leaves the batch in flight (sent again: at least
// once).
func (l *loop[T]) completeDelivered() {
	p := l.p
	for seq, ib := range l.batches {
		if !ib.delivered {
			continue
		}
		if err := p.s.Complete(seq); err != nil && !errors.Is(err, wal.ErrNoBatch) {
			p.cfg.logger.Error("walbatch: marking a delivered batch complete at stop failed; it will be sent again after the next open", "batch", ib.b.ID, "err", err)
			continue
		}
		p.delivered.Add(int64(ib.b.Count))
		delete(l.batches, seq)
	}
}

// fail schedules a retry, or dead-letters the batch when the error is
// permanent or the retry budget is spent. It reads v, the error as the
// dispatch goroutine read it; cause (an *attemptError) only goes into
// notifications.
func (l *loop[T]) fail(ib *inflight, v *verdict, cause error) {
	p := l.p
	attempts := ib.b.Attempts + 1
	reason := v.msg
	if v.permanent || attempts > p.cfg.maxRetries {
		if !v.permanent {
			reason = fmt.Sprintf("gave up after %d attempts: %s", attempts, reason)
		}
		if err := p.s.DeadLetter(ib.b.Seq, reason, true); err != nil {
			p.cfg.logger.Error("walbatch: dead-lettering failed; will retry", "batch", ib.b.ID, "err", err)
			ib.b.NextAttempt = l.afterWriteFailure()
			return
		}
		p.deadLettered.Add(int64(ib.b.Count))
		p.notes.emit(Notification{Kind: DeadLettered, Stream: p.cfg.stream, BatchID: ib.b.ID, Count: ib.b.Count,
			Bytes: ib.b.Bytes, Attempt: attempts, Err: errors.New(reason)})
		if ok, left := p.logs.allow("dead\x00"+reason, time.Now()); ok {
			p.cfg.logger.Warn("walbatch: batch dead-lettered", "stream", p.cfg.stream, "batch", ib.b.ID, "events", ib.b.Count, "reason", reason, "suppressed", left)
		}
		delete(l.batches, ib.b.Seq)
		p.freed()
		return
	}
	next := time.Now().Add(l.retryDelay(attempts, v.after))
	nb, err := p.s.Retry(ib.b.Seq, next, reason)
	if err != nil {
		p.cfg.logger.Error("walbatch: recording a retry failed", "batch", ib.b.ID, "err", err)
		// Count the attempt in memory, so that the retry budget runs out
		// even while the file cannot record it.
		ib.b.Attempts = attempts
		ib.b.NextAttempt = max(next.UnixNano(), l.afterWriteFailure())
		return
	}
	ib.b = nb
	p.retried.Add(1)
	if ok, left := p.logs.allow("retry\x00"+reason, time.Now()); ok {
		p.cfg.logger.Warn("walbatch: dispatch failed; retry scheduled", "stream", p.cfg.stream, "batch", nb.ID,
			"attempt", attempts, "err", reason, "next_attempt", next, "suppressed", left)
	}
	p.notes.emit(Notification{Kind: RetryScheduled, Stream: p.cfg.stream, BatchID: nb.ID, Count: nb.Count,
		Bytes: nb.Bytes, Attempt: attempts, Err: cause, NextAttempt: next})
}
