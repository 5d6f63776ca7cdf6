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
// or ctx ends, whichever is first: the deadline. It returns as soon as
// nothing is left to do. At the deadline it cancels dispatches still
// running and waits up to a second for them to return, stops the
// notification goroutine (notifications still queued at the deadline, or
// 100ms after it when it has passed, are dropped and counted in Stats)
// and, if Open opened the WAL, closes it, releasing the file's lock.
// Whatever was not delivered stays in the WAL, never marked done and
// never dropped, and is dispatched after the next open.
//
// Stop returns nil only when the stream has nothing pending or in flight
// and nothing failed. When it leaves events, its error is an
// *UndeliveredError (errors.Is(err, ErrUndelivered)) with the events and
// bytes left pending and in flight, so a service can log "left N events
// for the next start" (errors.As). Dead letters are not counted (see
// Left). If ctx ended the drain, the UndeliveredError wraps ctx's error
// (errors.Is(err, context.DeadlineExceeded)); a ctx that ends once all is
// delivered is no error, and neither is the stop timeout's end: it only
// leaves events. The events are durable, so a defer p.Stop(ctx) that
// ignores the error loses nothing. Other errors are joined with it
// (errors.Join), each when it applies: ErrStuck (see below) and the error
// closing the file; WithoutUndelivered keeps only those. A processor
// never started (WithStartOnOpen(false) and no Start) dispatches nothing:
// Stop reports all its events left. Stop is idempotent: later calls wait
// for the first to finish and return its result, the same error with the
// same counts.
//
// Stop does not wait for user code that ignores its context: a dispatch
// or an EnqueueAsync callback still running a second after the deadline,
// or a listener still running a second after the notifications' cutoff,
// is left running, and Stop returns an error wrapping ErrStuck that names
// its batch (or says a callback or a listener). A stuck callback's event
// is committed; the callbacks queued behind it run, on the same
// goroutine, once it returns, and then that goroutine ends. The WAL is
// closed all the same, so a restart can open the file at once. Such a
// batch stays in flight in the file (and in the counts of the
// UndeliveredError) and goes out again, with the same ID, after the next
// open (or the next New on its stream); when its dispatch returns, the
// outcome is logged and not recorded, so it never touches a closed file
// or a batch another processor owns by then, and its goroutine ends.
// Otherwise no goroutine of the processor runs after Stop returns.
func (p *Processor[T]) Stop(ctx context.Context) error {
	p.stop(ctx)
	return p.stopErr
}

// stopResult is what the first Stop found, kept for the later calls.
type stopResult struct {
	left  Left  // pending and in flight when the drain ended
	cause error // ctx's error, when it had ended by then and events were left
	err   error // ErrStuck and the close error, joined
}

// stop runs the first Stop, or waits for it, and returns its result; the
// Manager aggregates the results of its streams.
func (p *Processor[T]) stop(ctx context.Context) stopResult {
	ctx = orBackground(ctx)
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		<-p.stopped
		return p.stopRes
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
	ctxDeadline := false // the deadline is ctx's
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
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
	var r stopResult
	if n := p.acks.wait(ctx, deadline); n > 0 {
		r.err = fmt.Errorf("%w: stream %q: %d EnqueueAsync callbacks had not returned (one running, the rest queued behind it); their events are committed, and the queued ones run when it returns", ErrStuck, p.cfg.stream, n)
	}
	// Nothing changes the stream's counts after the loop exits (a stuck
	// dispatch's late outcome is not recorded; a callback's Enqueue gets
	// ErrStopped), and they stay readable after the file is closed; taken
	// here, before the close, all the same.
	r.left = leftOf(p.Stats())
	if r.left.Events() > 0 {
		if ctxDeadline && !time.Now().Before(deadline) {
			// The loop ended the drain at ctx's deadline by its own clock:
			// ctx's timer is due, if it has not fired yet.
			<-ctx.Done()
		}
		r.cause = ctx.Err()
	}
	if len(p.stuck) > 0 {
		r.err = errors.Join(r.err, fmt.Errorf("%w: stream %q: the dispatch of batch %s did not return after it was canceled; the batch stays in flight and goes out again after the next open",
			ErrStuck, p.cfg.stream, strings.Join(p.stuck, ", ")))
	}
	if !p.notes.closeBy(deadline) {
		r.err = errors.Join(r.err, fmt.Errorf("%w: stream %q: a notification listener did not return", ErrStuck, p.cfg.stream))
	}
	if p.ownsLog {
		r.err = errors.Join(r.err, p.log.Close())
	}
	p.stopRes = r
	p.stopErr = stopError(map[string]Left{p.cfg.stream: r.left}, r.cause, r.err)
	p.freed()
	close(p.stopped)
	return r
}
