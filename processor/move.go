package processor

import (
	"time"

	"github.com/walbatch/walbatch/wal"
)

// A move is the loop's one request to the writer for the batches that
// follow the flow: it marks complete every batch delivered since the last
// move and seals the batches due (those within maxInFlight, then full ones
// ahead), in one transaction (wal.Stream.Move): one commit for all of them
// instead of one per batch. It runs on a goroutine of its own while the
// loop goes on launching the batches already sealed and taking in
// results, so the writer commits one move while the sink takes the next
// batches; batches delivered meanwhile go in the next move. At most one
// move is with the writer at a time, so the loop plans each one from the
// file's state as the last one left it.
//
// A batch is marked complete only once its sink accepted it, and a batch
// sealed by a move is dispatched only once the move committed: a crash
// leaves delivered batches in flight (sent again after the next open, at
// least once) and sealed ones as the last commit left them. The loop's
// other writes (a retry, a dead letter, a partial or per-event outcome)
// stay synchronous: they concern batches that are not in the move.

// moveReq is a move's plan.
type moveReq struct {
	complete []uint64 // delivered batches, oldest first
	seals    []wal.SealOptions
	trigs    []Trigger // why each seal is due
}

// moveDone is a move's answer.
type moveDone struct {
	m   moveReq
	res wal.MoveResult
	err error
}

// staying is the number of batches that stay in flight once the delivered
// ones are marked complete.
func (l *loop[T]) staying() int {
	n := 0
	for _, ib := range l.batches {
		if !ib.delivered {
			n++
		}
	}
	return n
}

// move sends the writer the next move, unless one is with it already or
// there is nothing to do.
func (l *loop[T]) move(now time.Time) {
	if l.moving {
		return
	}
	var m moveReq
	if !now.Before(l.completeAfter) {
		for _, seq := range l.order() {
			if l.batches[seq].delivered {
				m.complete = append(m.complete, seq)
			}
		}
	}
	l.planSeals(now, &m)
	if len(m.complete) == 0 && len(m.seals) == 0 {
		return
	}
	l.moving, l.woken = true, false
	s := l.p.s
	go func() {
		res, err := s.Move(m.complete, m.seals)
		l.moves <- moveDone{m: m, res: res, err: err}
	}()
}

// planSeals adds the seals due to m: the first as sealDue decides, then
// as many full batches as may follow it (to fill maxInFlight, or ahead),
// as far as the pending events make full batches.
func (l *loop[T]) planSeals(now time.Time, m *moveReq) {
	p := l.p
	if l.sealIdle {
		return
	}
	left := l.staying()
	opts, trig, ok := l.sealDue(now, left)
	if !ok {
		return
	}
	m.seals, m.trigs = append(m.seals, opts), append(m.trigs, trig)
	more := 0
	switch {
	case left+1 < p.cfg.maxInFlight:
		more = p.cfg.maxInFlight - left - 1
	case left >= p.cfg.maxInFlight: // the first is ahead: canSealAhead held
		more = l.aheadMax() - (left - p.cfg.maxInFlight) - 1
	}
	full := int(p.s.Stats().PendingEvents/int64(p.cfg.batchSize)) - 1 // beyond the first
	full = min(more, full)
	for range full {
		m.seals = append(m.seals, wal.SealOptions{MaxEvents: p.cfg.batchSize, MaxBytes: p.cfg.batchBytes})
		m.trigs = append(m.trigs, TriggerBatchSize)
	}
}

// moved takes in a move's answer.
func (l *loop[T]) moved(d moveDone) {
	p := l.p
	l.moving = false
	if d.err != nil {
		if len(d.m.seals) > 0 {
			// The seal may be what failed (a damaged record): the next
			// move completes alone, and seals after the retry delay.
			p.cfg.logger.Error("walbatch: seal failed", "stream", p.cfg.stream, "err", d.err)
			l.sealFailed()
			return
		}
		for _, seq := range d.m.complete {
			if ib := l.batches[seq]; ib != nil {
				p.cfg.logger.Error("walbatch: marking a delivered batch complete failed; will retry", "batch", ib.b.ID, "err", d.err)
			}
		}
		l.completeAfter = time.Now().Add(clampDelay(p.cfg.retryDelay))
		return
	}
	for _, seq := range d.m.complete {
		// A batch the file no longer holds in flight (wal.ErrNoBatch) is
		// done too.
		if ib := l.batches[seq]; ib != nil {
			p.delivered.Add(int64(ib.b.Count))
			delete(l.batches, seq)
		}
	}
	if len(d.m.complete) > 0 {
		p.freed()
	}
	for i, res := range d.res.Sealed {
		l.sealed(res, nil, d.m.seals[i].Force, d.m.trigs[i])
	}
	if n := len(d.res.Sealed); n < len(d.m.seals) && !d.m.seals[n].Force {
		p.keyChanged.Store(false) // the run is still open
	}
	if len(d.m.seals) > 0 && len(d.res.Sealed) == 0 && !l.woken {
		l.sealIdle = true
	}
}

// waitMove waits for the move with the writer, if any, and takes in its
// answer: before the loop exits, so no write of its own is left running.
func (l *loop[T]) waitMove() {
	if l.moving {
		l.moved(<-l.moves)
	}
}
