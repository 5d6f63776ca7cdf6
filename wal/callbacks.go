package wal

import "sync"

// callbacks runs AppendAsync callbacks on a goroutine of their own, in the
// order the writer answered them, so that the writer starts its next
// commit while the callbacks of the last one run: with thousands of
// asynchronous appends in a group, calling them is work the size of the
// group. The queue is unbounded (it holds requests the producers already
// made), so the writer never waits for a callback, and a callback that
// appends does not wait for a writer that waits for it.
type callbacks struct {
	mu      sync.Mutex // guards queue, stopped
	queue   []*request // answered: first and err set
	stopped bool

	wake chan struct{}
	done chan struct{}
}

func startCallbacks() *callbacks {
	cb := &callbacks{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go cb.run()
	return cb
}

// push queues the callbacks of rs, whose first and err are set.
func (cb *callbacks) push(rs []*request) {
	if len(rs) == 0 {
		return
	}
	cb.mu.Lock()
	cb.queue = append(cb.queue, rs...)
	cb.mu.Unlock()
	select {
	case cb.wake <- struct{}{}:
	default:
	}
}

// stop runs every callback queued and ends the goroutine.
func (cb *callbacks) stop() {
	cb.mu.Lock()
	cb.stopped = true
	cb.mu.Unlock()
	select {
	case cb.wake <- struct{}{}:
	default:
	}
	<-cb.done
}

func (cb *callbacks) run() {
	defer close(cb.done)
	var spare []*request
	for {
		<-cb.wake
		for {
			cb.mu.Lock()
			rs, stopped := cb.queue, cb.stopped
			if len(rs) == 0 {
				// Keep the (empty) queue: swapping in spare would leave
				// queue and spare sharing one array.
				cb.mu.Unlock()
				if stopped {
					return
				}
				break
			}
			cb.queue = spare[:0]
			cb.mu.Unlock()
			for _, r := range rs {
				call(r)
			}
			clear(rs)
			spare = rs
		}
	}
}

// call runs r's callback with its answer and recycles r if it came from
// reqPool.
func call(r *request) {
	r.cb(r.first, r.err)
	if r.recycle {
		r.release()
	}
}
