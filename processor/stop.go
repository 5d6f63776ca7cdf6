package processor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Flush dispatches every event enqueued before the call, whatever the batch
// size and timers, and returns when each is delivered or dead-lettered, or
// when ctx ends (its error is returned; the events stay queued). Failed
// batches follow their retry schedule: Flush waits for it rather than
// retrying early. Before Start it returns ErrNotStarted; after Stop began,
// or when Stop ends dispatching before the events are done, ErrStopped.
func (p *Processor[T]) Flush(ctx context.Context) error {
	ctx = orBackground(ctx)
	if err := p.lifecycleErr(); err != nil {
		return err
	}
	p.mu.Lock()
	loopDone := p.loopDone
	p.mu.Unlock()
	f := &flushReq{target: p.s.Stats().LastSeq, done: make(chan struct{})}
	select {
	case p.flushCh <- f:
	case <-loopDone:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lifecycleErr is ErrStopped once Stop began, ErrNotStarted before Start,
// else nil: when Flush and Drain can work.
func (p *Processor[T]) lifecycleErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.stopping:
		return ErrStopped
	case !p.started:
		return ErrNotStarted
	}
	return nil
}

// Stop stops accepting events (Enqueue and EnqueueAsync return ErrStopped
// from now on), waits for the commits of EnqueueAsync calls accepted
// before, dispatches what is pending, and waits for in-flight dispatches
// and for those calls' callbacks until the stop timeout (WithStopTimeout)
// or ctx ends, whichever is first: the deadline. Then it cancels dispatches still
// running and waits up to a second for them to return, stops the
// notification goroutine (notifications still queued at the deadline, or
// 100ms after it when it has passed, are dropped and counted in Stats)
// and, if Open opened the WAL, closes it, releasing the file's lock.
// Whatever was not delivered stays in the WAL, never marked done and never
// dropped, and is dispatched after the next open. Stop is idempotent: later
// calls wait for the first to finish and return its result.
//
// Stop does not wait for user code that ignores its context: a dispatch
// or an EnqueueAsync callback still running a second after the deadline,
// or a listener still running a second after the notifications' cutoff,
// is left running, and Stop returns an error wrapping ErrStuck that names
// its batch (or says a callback or a listener). A stuck callback's event
// is committed; the callbacks queued behind it run, on the same
// goroutine, once it returns, and then that goroutine ends. The WAL is closed all the same, so a restart can open the
// file at once. Such a batch stays in flight in the file and goes out
// again, with the same ID, after the next open (or the next New on its
// stream); when its dispatch returns, the outcome is logged and not
// recorded, so it never touches a closed file or a batch another
// processor owns by then, and its goroutine ends. Otherwise no goroutine
// of the processor runs after Stop returns.
func (p *Processor[T]) Stop(ctx context.Context) error {
	ctx = orBackground(ctx)
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		<-p.stopped
		return p.stopErr
	}
	p.stopping = true
	loopDone := p.loopDone
	p.mu.Unlock()
	// EnqueueAsync calls accepted before stopping get their commit (the
	// WAL is still open), and the drain below includes them, as it
	// includes every Enqueue that returned. Their callbacks run
	// meanwhile (one that enqueues gets ErrStopped); they are waited for
	// after the drain, until the deadline.
	p.acks.commits.Wait()

	// Clamped (see clampDelay): the notifier keeps the deadline as int64
	// nanoseconds.
	deadline := time.Now().Add(min(p.cfg.stopTimeout, maxDelay))
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if loopDone != nil {
		p.stopCh <- deadline
		select {
		case <-loopDone:
		case <-ctx.Done():
			// Cut the drain short: the loop sees a deadline in the past.
			// The loop may not have taken the first deadline yet (it was
			// busy): replace it, or the full stop timeout applies. Stop is
			// the only sender, so after the receive the send cannot block.
			select {
			case <-p.stopCh:
			default:
			}
			p.stopCh <- time.Now()
			<-loopDone
		}
	}
	var err error
	if n := p.acks.wait(ctx, deadline); n > 0 {
		err = fmt.Errorf("%w: stream %q: %d EnqueueAsync callbacks had not returned (one running, the rest queued behind it); their events are committed, and the queued ones run when it returns", ErrStuck, p.cfg.stream, n)
	}
	if len(p.stuck) > 0 {
		err = errors.Join(err, fmt.Errorf("%w: stream %q: the dispatch of batch %s did not return after it was canceled; the batch stays in flight and goes out again after the next open",
			ErrStuck, p.cfg.stream, strings.Join(p.stuck, ", ")))
	}
	if !p.notes.closeBy(deadline) {
		err = errors.Join(err, fmt.Errorf("%w: stream %q: a notification listener did not return", ErrStuck, p.cfg.stream))
	}
	if p.ownsLog {
		err = errors.Join(err, p.log.Close())
	}
	p.stopErr = err
	p.freed()
	close(p.stopped)
	return err
}
