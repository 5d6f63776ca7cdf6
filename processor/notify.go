package processor

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is a kind of notification.
type Kind int

const (
	// BatchDispatched fires after each dispatch attempt, once its outcome
	// is known (Err nil: delivered; Delivered counts a partial result).
	BatchDispatched Kind = iota
	// RetryScheduled fires when a failed batch is scheduled to retry.
	RetryScheduled
	// DeadLettered fires when a batch's events go to dead letters.
	DeadLettered
	// Recovered fires once at open with what recovery found.
	Recovered
	// Flushed fires when a Flush (or the flush of Stop) finished.
	Flushed
	// StreamReleased fires on a Manager's listeners (Manager.Subscribe)
	// when an idle stream's processor was stopped and released; the next
	// use of the name creates it afresh. A Processor never emits it.
	StreamReleased
)

// forwardedKinds are the kinds a Manager forwards from each stream's
// processor to its own listeners.
var forwardedKinds = []Kind{BatchDispatched, RetryScheduled, DeadLettered, Recovered, Flushed}

func (k Kind) String() string {
	switch k {
	case BatchDispatched:
		return "batch_dispatched"
	case RetryScheduled:
		return "retry_scheduled"
	case DeadLettered:
		return "dead_lettered"
	case Recovered:
		return "recovered"
	case Flushed:
		return "flushed"
	case StreamReleased:
		return "stream_released"
	}
	return "unknown"
}

// Notification describes one event of the processor's life. Fields that do
// not apply to a kind are zero.
type Notification struct {
	Kind    Kind
	Stream  string
	BatchID string
	Count   int   // events in the attempt
	Bytes   int64 // their payload bytes
	Attempt int
	Latency time.Duration // of the dispatch call
	// Delivered is how many events the attempt delivered (all of them on
	// success, the partial count on a partial result, the nil entries of
	// a per-event result).
	Delivered int
	// Err is the attempt's error, or the reason of a dead letter.
	Err error
	// NextAttempt is when a scheduled retry will run.
	NextAttempt time.Time
	// Recovery is set for Recovered.
	Recovery *RecoveryReport
	// Trigger is set for BatchDispatched: what made the batch be sealed.
	Trigger Trigger
}

// Listener receives notifications. Listeners run on one notification
// goroutine, in order, never on the processor's own path: a slow listener
// delays only other listeners, and when it falls more than 1024
// notifications behind, newer ones are dropped (counted in Stats); at Stop,
// those still queued when its time is up are dropped too. A panic in a
// listener is recovered and logged.
type Listener func(Notification)

type listenerReg struct {
	kind Kind
	fn   Listener
}

// notifier delivers notifications to listeners off the processor's path.
type notifier struct {
	log *slog.Logger

	mu     sync.RWMutex // guards subs, nextID, closed (and ch against a send after close)
	subs   map[int]listenerReg
	nextID int
	closed bool

	ch      chan Notification
	done    chan struct{}
	dropped atomic.Int64
	cutoff  atomic.Int64 // unix ns after which queued notifications are dropped; 0 = none
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log, subs: map[int]listenerReg{}, ch: make(chan Notification, 1024), done: make(chan struct{})}
	go n.run()
	return n
}

func (n *notifier) add(kind Kind, fn Listener) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nextID++
	n.subs[n.nextID] = listenerReg{kind, fn}
	return n.nextID
}

func (n *notifier) remove(id int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.subs[id]
	delete(n.subs, id)
	return ok
}

// emit queues a notification without ever blocking. After close it drops
// the notification: a Manager's notifier may still be handed one by a
// stream whose creation ended after the manager stopped.
func (n *notifier) emit(note Notification) {
	n.mu.RLock()
	defer n.mu.RUnlock() // held across the send: close cannot run meanwhile
	if n.closed {
		return
	}
	any := false
	for _, s := range n.subs {
		if s.kind == note.Kind {
			any = true
			break
		}
	}
	if !any {
		return
	}
	select {
	case n.ch <- note:
	default:
		n.dropped.Add(1)
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for note := range n.ch {
		if c := n.cutoff.Load(); c != 0 && time.Now().UnixNano() >= c {
			n.dropped.Add(1) // closing, and out of time: do not hold Stop
			continue
		}
		n.mu.RLock()
		var fns []Listener
		for id := 1; id <= n.nextID; id++ {
			if s, ok := n.subs[id]; ok && s.kind == note.Kind {
				fns = append(fns, s.fn)
			}
		}
		n.mu.RUnlock()
		for _, fn := range fns {
			n.call(fn, note)
		}
	}
}

func (n *notifier) call(fn Listener, note Notification) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("walbatch: notification listener panicked", "kind", note.Kind.String(), "panic", r)
		}
	}()
	fn(note)
}

// close delivers what is queued and ends the goroutine.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	close(n.ch)
	n.mu.Unlock()
	<-n.done
}

// closeBy is close that delivers queued notifications only until deadline
// (or for notifyGrace, if that is later) and drops the rest, counted, so a
// slow listener cannot hold Stop past its timeout. It waits for the
// listener call in progress until stuckGrace after that cutoff; it
// reports false when the call is still running then: the goroutine is left
// to end when the listener returns (dropping what is still queued).
func (n *notifier) closeBy(deadline time.Time) bool {
	cutoff := deadline
	if g := time.Now().Add(notifyGrace); g.After(cutoff) {
		cutoff = g
	}
	n.cutoff.Store(cutoff.UnixNano())
	close(n.ch)
	t := time.NewTimer(time.Until(cutoff) + stuckGrace)
	defer t.Stop()
	select {
	case <-n.done:
		return true
	case <-t.C:
		return false
	}
}

// notifyGrace is how long Stop lets listeners catch up when its own
// deadline has already passed.
const notifyGrace = 100 * time.Millisecond
