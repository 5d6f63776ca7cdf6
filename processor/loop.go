package processor

import (
	"cmp"
	"context"
	"iter"
	"sort"
	"sync"
	"time"

	"github.com/walbatch/walbatch/wal"
)

// flushReq is a Flush waiting for every event enqueued before it to be
// completed or dead-lettered.
type flushReq struct {
	target uint64 // last sequence number at the time of the call
	done   chan struct{}
	err    error // set before done is closed: ErrStopped when the loop exits first
}

// inflight is a sealed batch the loop tracks until it completes or dies.
type inflight struct {
	b         *wal.Batch
	recs      []wal.Record // nil: load from the WAL before dispatching
	running   bool
	trigger   Trigger // why it was sealed
	delivered bool    // sink accepted it; not yet marked complete in the WAL (next step, or retried after a failure)
}

// result is the outcome of one dispatch attempt.
type result struct {
	seq      uint64
	recs     []wal.Record // the records sent (cached for a retry)
	b        *wal.Batch   // the batch as sent (after quarantine)
	err      error        // nil, or an *attemptError carrying v
	v        *verdict     // the dispatcher's error read once on the dispatch goroutine; nil on success
	latency  time.Duration
	canceled bool // cut short by Stop's deadline: not counted as an attempt
}

// loop owns sealing, scheduling and applying outcomes: one goroutine, so
// the batch state needs no locks. Dispatches run on goroutines of their
// own and report back on results.
type loop[T any] struct {
	p       *Processor[T]
	batches map[uint64]*inflight
	results chan result
	running int
	wg      sync.WaitGroup
	done    chan struct{} // the processor's loopDone: closed when run returns
	left    bool          // run returns leaving dispatches running (see abandon)

	ctx    context.Context // parent of dispatch contexts; canceled at Stop's deadline
	cancel context.CancelFunc

	flushes      []*flushReq
	flushTarget  uint64
	stopping     bool
	stopDeadline time.Time
	timer        *time.Timer

	// sealAfter is when a seal may be tried again after one failed (a full
	// disk, a damaged record): the retry delay, so a lasting cause does not
	// make the loop spin.
	sealAfter time.Time

	// future is the oldest pending event's enqueue time when it was after
	// the clock (at), and when the loop first saw it so (seen): see
	// oldestPending.
	future struct{ at, seen time.Time }

	// moving: a move (see move.go) is with the writer; its answer comes on
	// moves. completeAfter is when delivered batches may be marked
	// complete again after a move that only completed failed.
	moving        bool
	moves         chan moveDone
	completeAfter time.Time
	// sealIdle: the last move's first seal cut nothing, and nothing but
	// its answer woke the loop while it was with the writer (woken): the
	// next step tries no seal, and the loop waits for something else (as
	// a seal that finds nothing to do waits for the next event), instead
	// of sending the same move again at once.
	sealIdle, woken bool
}

func newLoop[T any](p *Processor[T]) *loop[T] {
	ctx, cancel := context.WithCancel(context.Background())
	return &loop[T]{p: p, batches: map[uint64]*inflight{}, results: make(chan result), moves: make(chan moveDone, 1), done: p.loopDone, ctx: ctx, cancel: cancel}
}

func (l *loop[T]) run() {
	p := l.p
	defer close(p.loopDone)
	defer func() {
		if !l.left {
			l.wg.Wait()
		}
	}()
	defer l.cancel()
	l.timer = time.NewTimer(time.Hour)
	defer l.timer.Stop()
	if err := l.loadInFlight(); err != nil {
		p.cfg.logger.Error("walbatch: cannot read in-flight batches; stopping dispatch", "stream", p.cfg.stream, "err", err)
		l.drainAndExit()
		return
	}
	for {
		if l.step() {
			return
		}
		l.sealIdle = false
		woken := true
		select {
		case <-p.s.Appended():
		case <-p.wakeCh:
		case <-l.timer.C:
		case r := <-l.results:
			l.apply(r)
		case d := <-l.moves:
			l.moved(d)
			woken = false
		case f := <-p.flushCh:
			l.flushes = append(l.flushes, f)
			l.flushTarget = max(l.flushTarget, f.target)
		case d := <-p.stopCh:
			l.stopping, l.stopDeadline = true, d
			l.flushTarget = max(l.flushTarget, p.s.Stats().LastSeq)
		}
		l.woken = l.woken || woken
	}
}

// loadInFlight picks up the batches a previous process sealed and did not
// finish, with their attempt counts and retry times: those recovery found
// sound at open. A damaged batch record is not dispatched (it would go out
// empty or stop the loop); recovery reported it, and Repair deals with it.
// Nothing but the loop seals or completes batches, so what recovery read
// is still what the file holds, however late Start comes.
func (l *loop[T]) loadInFlight() error {
	// A retry time further off than any delay the processor schedules now
	// (written by a version without the clamp) is brought within it.
	limit := time.Now().Add(maxDelay).UnixNano()
	for _, b := range l.p.recovery.redispatch {
		b.NextAttempt = min(b.NextAttempt, limit)
		l.batches[b.Seq] = &inflight{b: &b, trigger: TriggerRecovered}
	}
	return nil
}

// step does all that can be done now and arms the timer for the next
// thing. It reports whether the loop should exit.
func (l *loop[T]) step() bool {
	now := time.Now()
	if l.stopping && !now.Before(l.stopDeadline) {
		l.cancel() // Stop's time is up: cut running dispatches short
		if l.running == 0 || !now.Before(l.stopDeadline.Add(stuckGrace)) {
			l.waitMove()
			l.completeDelivered()
			l.finishFlushes(true)
			l.abandon()
			return true
		}
	}
	// A batch sealed ahead starts first, so its dispatch (decoding
	// included) runs while the writer applies the move below.
	l.launch(now)
	l.move(now)
	l.finishFlushes(false)
	if l.stopping && !l.moving && l.running == 0 && len(l.batches) == 0 && l.p.s.Stats().PendingEvents == 0 {
		l.finishFlushes(true)
		return true
	}
	l.arm(now)
	return false
}

// sealDue says whether a batch should be sealed now, with which options,
// and why, when left batches stay in flight (those not delivered).
//
// It seals while fewer than maxInFlight are in flight and a flush trigger
// holds: a full batch (count, bytes, or a closed key run), max age,
// inactivity, Flush or Stop. It also seals full batches ahead while every
// batch in flight is being dispatched (see canSealAhead), so that the
// next ones are ready (sealed, committed) when they complete: a backlog
// drains without waiting for a seal between batches. A batch sealed ahead
// is not dispatched before its turn (see launch).
func (l *loop[T]) sealDue(now time.Time, left int) (wal.SealOptions, Trigger, bool) {
	p := l.p
	if now.Before(l.sealAfter) {
		return wal.SealOptions{}, "", false
	}
	ahead := left >= p.cfg.maxInFlight
	if ahead && !l.canSealAhead(left) {
		return wal.SealOptions{}, "", false
	}
	st := p.s.Stats()
	if st.PendingEvents == 0 {
		p.keyChanged.Store(false)
		return wal.SealOptions{}, "", false
	}
	var trig Trigger
	switch {
	case st.PendingEvents >= int64(p.cfg.batchSize):
		trig = TriggerBatchSize
	case st.PendingBytes >= p.cfg.batchBytes:
		trig = TriggerBatchBytes
	case p.keyChanged.Load():
		trig = TriggerKeyChange
	}
	full := trig != ""
	if ahead && !full {
		return wal.SealOptions{}, "", false
	}
	force := false
	if !ahead {
		switch {
		case l.stopping:
			force, trig = true, cmp.Or(trig, TriggerStop)
		case st.SealedThrough < l.flushTarget:
			force, trig = true, cmp.Or(trig, TriggerFlush)
		case l.inactive(now):
			force, trig = true, cmp.Or(trig, TriggerInactivity)
		}
	}
	if !force && !full {
		oldest, ok := l.oldestPending(now)
		if !ok || now.Sub(oldest) < p.cfg.maxAge {
			return wal.SealOptions{}, "", false
		}
		force, trig = true, TriggerMaxAge
	}
	return wal.SealOptions{MaxEvents: p.cfg.batchSize, MaxBytes: p.cfg.batchBytes, Force: force}, trig, true
}

// sealed takes in the outcome of a seal and reports whether to try sealing
// another batch.
func (l *loop[T]) sealed(res wal.SealResult, err error, force bool, trig Trigger) bool {
	p := l.p
	if err != nil {
		p.cfg.logger.Error("walbatch: seal failed", "stream", p.cfg.stream, "err", err)
		l.sealFailed()
		return false
	}
	if res.Quarantined > 0 {
		p.cfg.logger.Warn("walbatch: corrupt records moved to dead letters", "stream", p.cfg.stream, "count", res.Quarantined)
		p.freed() // dead letters do not count toward the pending limits
	}
	if res.Batch == nil {
		if !force {
			p.keyChanged.Store(false) // the run is still open
		}
		return res.Quarantined > 0
	}
	l.batches[res.Batch.Seq] = &inflight{b: res.Batch, recs: res.Records, trigger: trig}
	return true
}

// canSealAhead reports whether one more batch may be sealed beyond
// maxInFlight, when left batches stay in flight: at most aheadMax of them,
// only while the maxInFlight oldest batches not delivered are all
// dispatching (a batch waiting to retry holds the seals back), and not
// while stopping (what is left then stays pending for the next open).
func (l *loop[T]) canSealAhead(left int) bool {
	if l.stopping || left < l.p.cfg.maxInFlight || left-l.p.cfg.maxInFlight >= l.aheadMax() {
		return false
	}
	for ib := range l.window() {
		if !ib.running {
			return false
		}
	}
	return true
}

// aheadEvents bounds the events of the batches sealed ahead: at most
// aheadEvents/batchSize batches (at least one, at most maxAhead), so that
// their records, which the loop holds for their dispatch, stay small.
const (
	aheadEvents = 8192
	maxAhead    = 16
)

// aheadMax is how many batches may be sealed beyond maxInFlight.
func (l *loop[T]) aheadMax() int {
	return min(max(aheadEvents/l.p.cfg.batchSize, 1), maxAhead)
}

// sealFailed holds seals back for the retry delay (clamped, see
// clampDelay).
func (l *loop[T]) sealFailed() {
	l.sealAfter = time.Now().Add(clampDelay(l.p.cfg.retryDelay))
}

// oldestPending returns the enqueue time of the oldest pending event, what
// the max-age trigger measures from, if any is pending. An enqueue time
// after now (written while the clock was ahead, or by a clock stepped back
// since) would hold that event back for as long as the clock was off, so
// such an event counts as enqueued when the loop first saw it.
func (l *loop[T]) oldestPending(now time.Time) (time.Time, bool) {
	oldest, err := l.p.s.OldestPendingTime()
	if err != nil || oldest.IsZero() {
		return time.Time{}, false
	}
	if oldest.After(now) {
		if !oldest.Equal(l.future.at) {
			l.future.at, l.future.seen = oldest, now
		}
		return l.future.seen, true
	}
	return oldest, true
}

func (l *loop[T]) inactive(now time.Time) bool {
	last := l.p.lastEnqueue.Load()
	return last != 0 && now.Sub(time.Unix(0, last)) >= l.p.cfg.inactive
}

// launch starts a dispatch for every batch that is due among the oldest
// maxInFlight not yet delivered, oldest first: a batch sealed ahead waits
// for its turn, and a batch waiting to retry holds back those after it.
func (l *loop[T]) launch(now time.Time) {
	if l.stopping && !now.Before(l.stopDeadline) {
		return
	}
	for ib := range l.window() {
		if ib.running || ib.b.NextAttempt > now.UnixNano() {
			continue
		}
		ib.running = true
		l.running++
		l.wg.Add(1)
		go l.dispatch(ib.b, ib.recs)
	}
}

// window yields the batches that may be dispatching: the oldest
// maxInFlight not yet delivered, oldest first.
func (l *loop[T]) window() iter.Seq[*inflight] {
	return func(yield func(*inflight) bool) {
		n := 0
		for _, seq := range l.order() {
			ib := l.batches[seq]
			if ib.delivered {
				continue
			}
			if n++; n > l.p.cfg.maxInFlight || !yield(ib) {
				return
			}
		}
	}
}

func (l *loop[T]) order() []uint64 {
	seqs := make([]uint64, 0, len(l.batches))
	for seq := range l.batches {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs
}

// arm sets the timer to the earliest moment something becomes due.
func (l *loop[T]) arm(now time.Time) {
	p := l.p
	next := now.Add(time.Hour)
	at := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	if l.stopping && !now.Before(l.stopDeadline) {
		// Past Stop's deadline nothing more is launched or sealed for
		// dispatch: wait for the canceled dispatches (a result wakes the
		// loop) until the grace ends.
		l.timer.Reset(max(l.stopDeadline.Add(stuckGrace).Sub(now), time.Millisecond))
		return
	}
	if l.stopping {
		at(l.stopDeadline)
	}
	for _, ib := range l.batches {
		if !ib.running && ib.b.NextAttempt > 0 {
			at(time.Unix(0, ib.b.NextAttempt))
		}
		if ib.delivered {
			at(now.Add(clampDelay(p.cfg.retryDelay)))
		}
	}
	if l.staying() < p.cfg.maxInFlight && p.s.Stats().PendingEvents > 0 {
		sealAt := func(t time.Time) {
			if t.Before(l.sealAfter) {
				t = l.sealAfter
			}
			at(t)
		}
		if last := p.lastEnqueue.Load(); last != 0 {
			sealAt(time.Unix(0, last).Add(p.cfg.inactive))
		}
		if oldest, ok := l.oldestPending(now); ok {
			sealAt(oldest.Add(p.cfg.maxAge))
		}
	}
	d := next.Sub(now)
	if d < time.Millisecond {
		d = time.Millisecond
	}
	l.timer.Reset(d)
}

// finishFlushes answers the Flush calls whose events are all done (or all
// of them when the loop exits).
func (l *loop[T]) finishFlushes(all bool) {
	if len(l.flushes) == 0 {
		return
	}
	st := l.p.s.Stats()
	keep := l.flushes[:0]
	for _, f := range l.flushes {
		if done := l.flushDone(f.target, st); all || done {
			if !done {
				f.err = ErrStopped // the loop exits with the flush's events still in the WAL
			}
			close(f.done)
			l.p.notes.emit(Notification{Kind: Flushed, Stream: l.p.cfg.stream, Err: f.err})
			continue
		}
		keep = append(keep, f)
	}
	l.flushes = keep
}

func (l *loop[T]) flushDone(target uint64, st wal.Stats) bool {
	if st.SealedThrough < target && st.PendingEvents > 0 {
		return false
	}
	for _, ib := range l.batches {
		if ib.b.First <= target {
			return false
		}
	}
	return true
}

// drainAndExit waits for running dispatches after a fatal error.
func (l *loop[T]) drainAndExit() {
	l.cancel()
	for l.running > 0 {
		<-l.results
		l.running--
	}
	l.finishFlushes(true)
}
