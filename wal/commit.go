package wal

import (
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// request is one write waiting for the writer goroutine: an append (bodies
// set) or a transition (apply set).
type request struct {
	s *Stream // nil only for a transition of the Log itself (stream creation)

	// An append.
	bodies [][]byte // envelopes without ID and checksum (format.AppendRecordBody)
	one    [1][]byte
	bytes  uint64 // payload bytes
	oldest int64  // enqueue time of the first body
	// then, if set, runs on the writer goroutine once the append
	// committed, before the answer (AppendManyThen).
	then func(first uint64)

	// A transition: apply makes its change inside the group's
	// transaction, on st, the stream's counters as the requests before it
	// in the group left them (nil when s is nil); after, if set, runs on
	// the writer goroutine once the group committed, before the answer.
	apply func(tx *bolt.Tx, st *format.State) error
	after func()

	// excluded: apply failed after it had written, so the group was rolled
	// back and is written again without this request (err says why).
	excluded bool

	// Answered once, from the writer goroutine: either done receives
	// the error, or cb is called.
	first uint64
	err   error
	done  chan struct{}
	cb    func(first uint64, err error)

	// recycle: taken from reqPool for a callback; answer puts it back
	// after the callback, when nothing refers to it any more.
	recycle bool

	// spare is the body of the single-entry append the request (from
	// reqPool) last carried, kept for its next one: by the time a request
	// goes back to the pool its group has been written, and nothing
	// refers to its body any more.
	spare []byte

	// many: taken from manyPool (an append of several events), whose
	// bodies are in slab; both are kept for its next use.
	many bool
	slab []byte
}

const (
	// maxSpareBody bounds the body a pooled request keeps for its next use.
	maxSpareBody = 4 << 10
	// maxSpareSlab bounds the slab of bodies a request of manyPool keeps.
	maxSpareSlab = 1 << 20
)

// body returns a buffer of capacity at least n for the request's one
// body: its spare one when that is large enough.
func (r *request) body(n int) []byte {
	if cap(r.spare) >= n {
		return r.spare[:0]
	}
	return make([]byte, 0, n)
}

// release puts a request back in reqPool, cleared but for its done
// channel and its body (or, for a transition, the spare it had), unless
// that is larger than maxSpareBody.
func (r *request) release() {
	if r.many {
		slab, bodies := r.slab, r.bodies
		if cap(slab) > maxSpareSlab {
			slab, bodies = nil, nil
		}
		*r = request{done: r.done, slab: slab[:0], bodies: bodies[:0]}
		manyPool.Put(r)
		return
	}
	spare := r.spare
	if r.one[0] != nil {
		spare = r.one[0]
	}
	if cap(spare) > maxSpareBody {
		spare = nil
	}
	*r = request{done: r.done, spare: spare}
	reqPool.Put(r)
}

var (
	reqPool  = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}
	manyPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}
)

// committer is the Log's one writer and its group commit: callers queue
// requests (appends and transitions); one goroutine takes everything
// queued, applies it in one bbolt transaction (one commit, one pair of
// fsyncs under SyncAlways; see group.go) and answers every caller. While
// it commits, new requests queue up and form the next group, so the number
// of fsyncs per write falls as concurrency rises.
type committer struct {
	l *Log

	mu    sync.Mutex // guards queue, transitions, stopped, target
	queue []*request
	// transitions counts the transitions in queue: while one waits,
	// commitAll writes no further group of what it took before it.
	transitions int
	stopped     bool
	target      int // when > 0, submit signals full once the queue holds this many
	// queuedAtCommit is how many requests were queued when the last group
	// had committed, before its callers were answered.
	queuedAtCommit int

	order []*request // commitAll's scratch: reqs in the order they are written
	vals  valueArena // the values of runs, reused from one group to the next
	// streams: the groupStreams of the last group, reused by the next.
	streams []*groupStream
	calls   *callbacks // runs AppendAsync callbacks after the writer answered them
	due     []*request // the callbacks of the group being answered

	wake chan struct{}
	full chan struct{}
	quit chan struct{}
	done chan struct{}
}

// maxGather bounds how long the committer waits for callers it has just
// answered to come back before it commits what is queued (see gather).
const maxGather = time.Millisecond

func startCommitter(l *Log) *committer {
	c := &committer{l: l, wake: make(chan struct{}, 1), full: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{}), calls: startCallbacks()}
	go c.run()
	return c
}

// submit queues r, or answers it with ErrClosed after stop.
func (c *committer) submit(r *request) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		c.answer(r, 0, ErrClosed, false)
		return
	}
	c.queue = append(c.queue, r)
	if r.apply != nil {
		c.transitions++
	}
	reached := c.target > 0 && (len(c.queue) >= c.target || r.apply != nil)
	if reached {
		c.target = 0
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	if reached {
		select {
		case c.full <- struct{}{}:
		default:
		}
	}
}

// gather waits, at most a quarter of the last commit's duration (and at most
// maxGather), until the queue holds want requests. Without it, producers
// that wait for their acks split into two halves that take turns: while one
// half's commit runs, the other queues, and each commit carries half of the
// callers. Waiting the few microseconds it takes the callers just answered
// to append again lets one commit (and one fsync) carry them all. A lone
// caller (want 1) never waits, and neither does a queued transition: it
// does not wait while one is queued, and one queued ends the wait.
// Durability is unchanged: every caller is still answered only after its
// own commit.
func (c *committer) gather(want int, last time.Duration, timer *time.Timer) {
	wait := min(last/4, maxGather)
	if want <= 1 || wait <= 0 {
		return
	}
	c.mu.Lock()
	if len(c.queue) >= want || c.transitions > 0 || c.stopped {
		c.mu.Unlock()
		return
	}
	c.target = want
	c.mu.Unlock()
	select {
	case <-c.full: // drained before the next gather sets target
	default:
	}
	timer.Reset(wait)
	select {
	case <-c.full:
	case <-timer.C:
	case <-c.quit:
	}
	timer.Stop()
	c.mu.Lock()
	c.target = 0
	c.mu.Unlock()
}

// stop commits what is queued, answers every caller and ends the goroutine.
func (c *committer) stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	c.mu.Unlock()
	close(c.quit)
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	defer c.calls.stop() // after the last group: its callbacks run first
	var spare []*request
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	answered := 0          // callers answered by the last commit
	var last time.Duration // how long it took
	for {
		select {
		case <-c.wake:
		case <-c.quit:
		}
		for {
			c.mu.Lock()
			want := answered + c.queuedAtCommit
			c.mu.Unlock()
			c.gather(want, last, timer)
			c.mu.Lock()
			reqs := c.queue
			stopped := c.stopped
			if len(reqs) == 0 {
				// Keep the (empty) queue: swapping in spare here would
				// leave queue and spare sharing one array, and the next
				// swap would hand submitters the array being committed.
				c.mu.Unlock()
				if stopped {
					return
				}
				break
			}
			c.queue, c.transitions = spare[:0], 0
			c.mu.Unlock()
			start := time.Now()
			rest := c.commitAll(reqs)
			last, answered = time.Since(start), len(reqs)-len(rest)
			if len(rest) > 0 {
				// A transition was queued meanwhile: what is left goes
				// back before what was queued after it, and the next
				// group starts with the transitions.
				c.mu.Lock()
				c.queue = append(append(make([]*request, 0, len(rest)+len(c.queue)), rest...), c.queue...)
				for _, r := range rest {
					if r.apply != nil {
						c.transitions++
					}
				}
				c.mu.Unlock()
			}
			clear(reqs)
			spare = reqs
		}
	}
}

// sideEvents bounds the appended events that share a group with
// transitions: enough for the appends to ride along on the transitions'
// fsyncs, few enough that the transitions (a processor's seals and
// completions, which its dispatch waits for) do not wait for the write of
// a full group of appends.
const sideEvents = 1024

// commitAll writes reqs in groups of at most MaxGroupEvents events, a
// transition counting as one. Transitions go first, in their queue order,
// in the first group, with at most sideEvents appended events after them;
// the appends keep their queue order. A transition therefore sees every
// append answered before it was made, not necessarily the appends still
// queued with it, as when transitions had transactions of their own.
//
// When a transition has been queued by the time a group committed,
// commitAll returns what it has not written (rest) instead of writing it:
// run queues it again in front of what came after, so the transition goes
// in the next group instead of waiting for the write of every group left
// (under a flood of appends, the rest of a take of thousands of events).
func (c *committer) commitAll(reqs []*request) (rest []*request) {
	limit := c.l.opts.MaxGroupEvents
	c.order = c.order[:0]
	for _, r := range reqs {
		if r.apply != nil {
			c.order = append(c.order, r)
		}
	}
	if len(c.order) > 0 {
		for _, r := range reqs {
			if r.apply == nil {
				c.order = append(c.order, r)
			}
		}
		copy(reqs, c.order)
		clear(c.order)
		limit = min(limit, sideEvents)
	}
	for len(reqs) > 0 {
		n, events, side := 0, 0, 0
		for n < len(reqs) && (n == 0 || events+reqs[n].weight() <= c.l.opts.MaxGroupEvents) {
			if reqs[n].apply == nil {
				if n > 0 && side+len(reqs[n].bodies) > limit {
					break
				}
				side += len(reqs[n].bodies)
			}
			events += reqs[n].weight()
			n++
		}
		answersTransitions := reqs[0].apply != nil // read before the answers: a request may be reused after
		c.commitGroup(reqs[:n])
		if answersTransitions {
			// The group's transitions are answered: let their callers
			// (a processor's loop) run now. The goroutine woken by an
			// answer waits for this one's processor, which would
			// otherwise run on into the next group's writes until a
			// syscall, so that the loop's next transition came only
			// once that group had started and waited for all of it.
			runtime.Gosched()
		}
		reqs = reqs[n:]
		limit = c.l.opts.MaxGroupEvents
		if len(reqs) > 0 && c.transitionQueued() {
			return reqs
		}
	}
	return nil
}

// transitionQueued reports whether a transition waits in the queue.
func (c *committer) transitionQueued() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transitions > 0
}

// weight is what r counts for against MaxGroupEvents.
func (r *request) weight() int { return max(len(r.bodies), 1) }

func putU64(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32)
	b[4], b[5], b[6], b[7] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// answer gives r its result: a waiting caller at once, a callback through
// c.calls when later is set (the writer's answers), else at once (a
// request refused before it was queued).
func (c *committer) answer(r *request, first uint64, err error, later bool) {
	r.first, r.err = first, err
	switch {
	case r.cb == nil:
		r.done <- struct{}{}
	case later:
		c.due = append(c.due, r)
	default:
		call(r)
	}
}
