package wal

import (
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// appendReq is one caller's append waiting for the group committer.
type appendReq struct {
	s      *Stream
	bodies [][]byte // envelopes without ID and checksum (format.AppendRecordBody)
	one    [1][]byte
	bytes  uint64 // payload bytes
	oldest int64  // enqueue time of the first body

	// Answered once, from the committer goroutine: either done receives
	// the error, or cb is called.
	first uint64
	err   error
	done  chan struct{}
	cb    func(first uint64, err error)

	// recycle: taken from reqPool for a callback; answer puts it back
	// after the callback, when nothing refers to it any more.
	recycle bool
}

var reqPool = sync.Pool{New: func() any { return &appendReq{done: make(chan struct{}, 1)} }}

// committer is the group commit: callers queue requests; one goroutine takes
// everything queued, writes it in one bbolt transaction (one commit, one
// fsync under SyncAlways) and answers every caller. While it commits, new
// requests queue up and form the next group, so the number of fsyncs per
// event falls as concurrency rises.
type committer struct {
	l *Log

	mu      sync.Mutex // guards queue, stopped, target
	queue   []*appendReq
	stopped bool
	target  int // when > 0, submit signals full once the queue holds this many
	// queuedAtCommit is how many requests were queued when the last group
	// had committed, before its callers were answered.
	queuedAtCommit int

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
		quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// submit queues r, or answers it with ErrClosed after stop.
func (c *committer) submit(r *appendReq) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		c.answer(r, 0, ErrClosed)
		return
	}
	c.queue = append(c.queue, r)
	reached := c.target > 0 && len(c.queue) >= c.target
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
// caller (want 1) never waits. Durability is unchanged: every caller is
// still answered only after its own commit.
func (c *committer) gather(want int, last time.Duration, timer *time.Timer) {
	wait := min(last/4, maxGather)
	if want <= 1 || wait <= 0 {
		return
	}
	c.mu.Lock()
	if len(c.queue) >= want || c.stopped {
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
	var spare []*appendReq
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
			c.queue = spare[:0]
			c.mu.Unlock()
			start := time.Now()
			c.commitAll(reqs)
			last, answered = time.Since(start), len(reqs)
			clear(reqs)
			spare = reqs
		}
	}
}

// commitAll writes reqs in groups of at most MaxGroupEvents events.
func (c *committer) commitAll(reqs []*appendReq) {
	max := c.l.opts.MaxGroupEvents
	for len(reqs) > 0 {
		n, events := 0, 0
		for n < len(reqs) && (n == 0 || events+len(reqs[n].bodies) <= max) {
			events += len(reqs[n].bodies)
			n++
		}
		c.commitGroup(reqs[:n])
		reqs = reqs[n:]
	}
}

// groupStream is a stream's state while a group is being written.
type groupStream struct {
	s  *Stream
	st format.State
	ev int64 // limits
	by int64
}

func (c *committer) commitGroup(reqs []*appendReq) {
	l := c.l
	l.writeMu.Lock()
	var touched []*groupStream
	find := func(s *Stream) *groupStream {
		for _, g := range touched {
			if g.s == s {
				return g
			}
		}
		s.mu.RLock()
		g := &groupStream{s: s, st: s.state, ev: s.maxEv, by: s.maxBy}
		s.mu.RUnlock()
		touched = append(touched, g)
		return g
	}
	accepted := reqs[:0:0]
	for _, r := range reqs {
		g := find(r.s)
		n := uint64(len(r.bodies))
		outEv := g.st.PendingCount + g.st.InflightCount + n
		outBy := g.st.PendingBytes + g.st.InflightBytes + r.bytes
		if (g.ev > 0 && outEv > uint64(g.ev)) || (g.by > 0 && outBy > uint64(g.by)) {
			r.err = ErrFull
			r.s.counts.refused.Add(1)
			continue
		}
		r.first = g.st.NextSeq
		g.st.NextSeq += n
		g.st.PendingCount += n
		g.st.PendingBytes += r.bytes
		if g.st.OldestNanos == 0 {
			g.st.OldestNanos = r.oldest
		}
		accepted = append(accepted, r)
	}
	var err error
	if len(accepted) > 0 {
		if l.isClosed() {
			err = ErrClosed
		} else {
			start := time.Now()
			err = storetx.Update(l.db, func(tx *bolt.Tx) error { return writeGroup(tx, accepted, touched) })
			if err == nil {
				events := 0
				for _, r := range accepted {
					events += len(r.bodies)
				}
				l.commits.add(events, time.Since(start))
			}
		}
		if err == nil {
			for _, g := range touched {
				g.s.setState(g.st)
			}
		}
	}
	l.writeMu.Unlock()
	c.mu.Lock()
	c.queuedAtCommit = len(c.queue)
	c.mu.Unlock()
	for _, r := range reqs {
		if r.err != nil {
			c.answer(r, 0, r.err)
		} else {
			c.answer(r, r.first, err)
		}
	}
	if err == nil {
		for _, g := range touched {
			select {
			case g.s.notify <- struct{}{}:
			default:
			}
		}
	}
}

func writeGroup(tx *bolt.Tx, reqs []*appendReq, touched []*groupStream) error {
	total := 0
	for _, r := range reqs {
		total += len(r.bodies)
	}
	keys := make([]byte, 8*total) // bbolt keeps key slices until commit
	var events *bolt.Bucket
	var cur *Stream
	for _, r := range reqs {
		if r.s != cur {
			var err error
			if events, err = r.s.sub(tx, format.BucketEvents); err != nil {
				return err
			}
			cur = r.s
		}
		seq := r.first
		for i, body := range r.bodies {
			k := keys[:8:8]
			keys = keys[8:]
			putU64(k, seq)
			r.bodies[i] = format.SealRecord(body, format.EventID(r.s.uid, seq))
			if err := events.Put(k, r.bodies[i]); err != nil {
				return err
			}
			seq++
		}
	}
	for _, g := range touched {
		if err := g.s.putState(tx, &g.st); err != nil {
			return err
		}
	}
	return nil
}

func putU64(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32)
	b[4], b[5], b[6], b[7] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func (c *committer) answer(r *appendReq, first uint64, err error) {
	if r.cb != nil {
		r.cb(first, err)
		if r.recycle {
			*r = appendReq{done: r.done}
			reqPool.Put(r)
		}
		return
	}
	r.first, r.err = first, err
	r.done <- struct{}{}
}
