package processor

import (
	"sort"
	"time"
)

// stuckGrace is how long Stop waits, past its deadline, for the user code
// it is waiting on (a dispatch it canceled, a listener call in progress)
// to return before it leaves it running. A dispatcher that honours its
// context returns in microseconds; a second covers a heavily loaded
// machine, where such a dispatcher must not be reported stuck.
const stuckGrace = time.Second

// abandon is the loop's last step when it exits: it records the batches
// whose dispatch is still running (their dispatcher ignores its context)
// for Stop to report, and leaves their goroutines to end on their own.
//
// Such a batch stays in flight in the WAL, as one canceled at the deadline
// does: its outcome is never recorded, so it goes out again, with the same
// ID, after the next open (at least once). Its goroutine does not touch the
// WAL after the dispatch returns (see report): Stop may have closed the
// file by then, and another processor on the stream may be dispatching the
// batch already.
func (l *loop[T]) abandon() {
	if l.running == 0 {
		return
	}
	l.left = true
	for _, seq := range l.order() {
		if ib := l.batches[seq]; ib.running {
			l.p.stuck = append(l.p.stuck, ib.b.ID)
		}
	}
	sort.Strings(l.p.stuck)
}

// report hands a dispatch's outcome to the loop, or, when the loop has
// exited without it (abandon), drops it with a log line: the batch is
// still in flight in the WAL and goes out again after the next open.
func (l *loop[T]) report(r result) {
	select {
	case l.results <- r:
	case <-l.done:
		var id string
		if r.b != nil {
			id = r.b.ID
		}
		l.p.cfg.logger.Warn("walbatch: a dispatch that was still running when Stop returned has ended; its outcome is not recorded, the batch goes out again after the next open",
			"stream", l.p.cfg.stream, "batch", id, "err", r.err)
	}
}
