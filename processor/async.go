package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/walbatch/walbatch/wal"
)

// EnqueueAsync appends ev to the WAL without waiting for its commit: it
// encodes ev, queues it for the next group commit and returns. cb is then
// called exactly once: with nil once the event is committed (fsynced under
// SyncAlways), from which point it will be dispatched or dead-lettered
// whatever happens to the process, or with the error that kept it out of
// the log (on any error the event was not acknowledged). Until cb reports
// nil, a crash may lose the event, as it may lose an event whose Enqueue has
// not returned.
//
// EnqueueAsync returns an error, and cb is never called, when the event is
// refused before it is queued: ErrStopped after Stop began,
// ErrEventTooLarge, ErrInvalidHeaders, or an encoding error. The errors cb
// can get are ErrFull, ErrStopped (the WAL closed before the commit) and write errors
// (store.ErrNoSpace when the disk is full). EnqueueAsync never waits for
// space: at the pending limits cb gets ErrFull whatever the full policy, as
// TryEnqueue does; treat it as backpressure.
//
// A producer can have many events on their way at once, so the producer's
// encoding, the commit (its fsync) and the dispatch overlap; a group commit
// carries all the events queued while the previous one ran. Events of
// EnqueueAsync calls made one after the other are committed in that order.
// The callbacks run one at a time, in the order the commits answer them,
// on a goroutine of the processor (never the caller's, never the WAL's
// committer): cb may call the processor, even Enqueue, but a slow cb delays
// the callbacks after it. The caller bounds how many events it keeps
// waiting for their callback. Stop waits for the commit of every
// EnqueueAsync call that returned nil, and for its callback until Stop's
// deadline: a callback still running a second past it is left running
// and Stop returns an error wrapping ErrStuck (see Stop), so cb must not
// wait for Stop.
func (p *Processor[T]) EnqueueAsync(ev T, cb func(error)) error {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		return ErrStopped
	}
	p.acks.begin()
	p.mu.Unlock()
	e := getEncoder()
	payload, err := p.encodeEvent(e, ev)
	if err != nil {
		e.release()
		p.acks.refused()
		return fmt.Errorf("processor: encode event: %w", err)
	}
	if int64(len(payload)) > p.cfg.batchBytes {
		e.release()
		p.acks.refused()
		return fmt.Errorf("%w: %d bytes, limit %d", ErrEventTooLarge, len(payload), p.cfg.batchBytes)
	}
	headers, err := p.headersOf(ev)
	if err != nil {
		e.release()
		p.acks.refused()
		return err
	}
	key := ""
	if p.keyFn != nil {
		key = p.keyFn(ev)
	}
	p.armInactivity()
	// AppendAsyncThen copies the payload out of the encoder's buffer before
	// it returns. The WAL's writer puts the value in the handoff once it is
	// committed (see carrier); the callback runs on the WAL's callback
	// goroutine, in commit order, and only hands the outcome to the acker.
	a := p.asyncCall(ev, key, cb)
	p.s.AppendAsyncThen([]wal.Entry{{Key: key, Payload: payload, Headers: headers}}, a.then, a.answered)
	e.release()
	return nil
}

// asyncCall is one EnqueueAsync call on its way through the WAL: pooled,
// with its two functions for the WAL bound once, so an asynchronous
// enqueue allocates no closure.
type asyncCall[T any] struct {
	p        *Processor[T]
	ev       T
	key      string
	cb       func(error)
	then     func(first uint64)            // put, or nil when the processor has no handoff
	answered func(first uint64, err error) // answer, bound once
}

func (p *Processor[T]) asyncCall(ev T, key string, cb func(error)) *asyncCall[T] {
	a, _ := p.calls.Get().(*asyncCall[T])
	if a == nil {
		a = &asyncCall[T]{p: p}
		if p.hot != nil {
			a.then = a.put
		}
		a.answered = a.answer
	}
	a.ev, a.key, a.cb = ev, key, cb
	return a
}

// put runs on the WAL's writer goroutine once the event is committed.
func (a *asyncCall[T]) put(first uint64) { a.p.hot.put(first, a.ev) }

// answer runs on the WAL's callback goroutine, after put: it hands the
// outcome to the acker and puts a back in the pool.
func (a *asyncCall[T]) answer(_ uint64, err error) {
	p, key, cb := a.p, a.key, a.cb
	var zero T
	a.ev, a.key, a.cb = zero, "", nil
	p.calls.Put(a)
	if err == nil {
		p.keyAcknowledged(key)
	} else if errors.Is(err, wal.ErrFull) {
		err = fmt.Errorf("%w: stream %q", ErrFull, p.cfg.stream)
	} else {
		err = p.mapErr(err)
	}
	p.acks.push(cb, err)
}

// acker runs the callbacks of EnqueueAsync in order on a goroutine of its
// own, started when a callback is queued and none runs, ending when the
// queue is empty: no goroutine while no asynchronous enqueue is waiting.
type acker struct {
	commits sync.WaitGroup // accepted EnqueueAsync calls whose commit has not answered
	runners sync.WaitGroup // the running goroutine, if any

	logger *slog.Logger // for a callback that panics

	mu      sync.Mutex
	queue   []ack
	spare   []ack
	running bool
	calls   int           // accepted EnqueueAsync calls whose callback has not returned
	idle    chan struct{} // made by idleCh, closed once calls is 0 and no goroutine runs
}

// begin counts an accepted EnqueueAsync call: its commit and its callback
// are to come.
func (a *acker) begin() {
	a.commits.Add(1)
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
}

// refused uncounts a call refused after begin: no commit, no callback.
func (a *acker) refused() {
	a.commits.Done()
	a.finished()
}

// finished counts a callback returned (or never to be called).
func (a *acker) finished() {
	a.mu.Lock()
	a.calls--
	a.signalLocked()
	a.mu.Unlock()
}

// signalLocked closes idle once nothing is left to run; a.mu is held.
func (a *acker) signalLocked() {
	if a.calls == 0 && !a.running && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
}

// idleCh returns a channel closed once every accepted call's callback has
// returned and no goroutine of the acker runs callbacks.
func (a *acker) idleCh() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.idle == nil {
		a.idle = make(chan struct{})
		a.signalLocked()
		if a.idle == nil { // closed at once: nothing to wait for
			done := make(chan struct{})
			close(done)
			return done
		}
	}
	return a.idle
}

type ack struct {
	cb  func(error)
	err error
}

// push queues cb's call with err. It never blocks.
func (a *acker) push(cb func(error), err error) {
	defer a.commits.Done()
	a.mu.Lock()
	a.queue = append(a.queue, ack{cb: cb, err: err})
	start := !a.running
	a.running = true
	if start {
		a.runners.Add(1)
	}
	a.mu.Unlock()
	if start {
		go a.run()
	}
}

func (a *acker) run() {
	defer a.runners.Done()
	var q []ack
	i, ended := 0, false
	defer func() {
		if ended {
			return
		}
		// A callback called runtime.Goexit (a panic is recovered in call):
		// this goroutine ends, a new one runs the callbacks after it.
		a.mu.Lock()
		a.queue = append(q[i+1:len(q):len(q)], a.queue...)
		a.runners.Add(1)
		a.mu.Unlock()
		go a.run()
	}()
	for {
		a.mu.Lock()
		q = a.queue
		if len(q) == 0 {
			a.running = false
			a.signalLocked()
			a.mu.Unlock()
			ended = true
			return
		}
		a.queue = a.spare[:0]
		a.spare = nil
		a.mu.Unlock()
		for i = range q {
			a.call(q[i])
		}
		clear(q)
		a.mu.Lock()
		a.spare = q
		a.mu.Unlock()
	}
}

// call runs one callback. A callback that panics is logged and does not
// take the process down or keep the callbacks after it from running; nor
// does one that calls runtime.Goexit (see run).
func (a *acker) call(k ack) {
	defer a.finished()
	defer func() {
		if r := recover(); r != nil && a.logger != nil {
			a.logger.Error("walbatch: EnqueueAsync callback panicked", "panic", r, "err", k.err)
		}
	}()
	if k.cb != nil {
		k.cb(k.err)
	}
}

// wait waits for the callbacks of every accepted EnqueueAsync call until
// deadline, or ctx's end, and a second more: it returns how many had not
// returned then (0: they all did, and the acker's goroutine ended). Stop
// calls it after new calls are refused and the WAL has answered every
// queued append (commits).
func (a *acker) wait(ctx context.Context, deadline time.Time) int {
	idle := a.idleCh()
	cut := time.NewTimer(time.Until(deadline))
	defer cut.Stop()
	select {
	case <-idle:
	case <-cut.C:
	case <-ctx.Done():
	}
	grace := time.NewTimer(time.Second)
	defer grace.Stop()
	select {
	case <-idle:
		a.runners.Wait() // ending: it saw an empty queue
		return 0
	case <-grace.C:
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.calls
	}
}
