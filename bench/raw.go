package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

// The disk's limit: what a minimal hand-written log does with the same
// events. Each record is a 4-byte length and the msgpack event, appended to
// a file opened with O_APPEND; durability is fdatasync.

func openRawLog(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "raw.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

func rawRecord(dst []byte, ev *benchkit.Event) []byte {
	b := benchkit.Encode(ev)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

func runRawFsync(e *env) (benchkit.Result, error) {
	f, err := openRawLog(e.dir)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer f.Close()
	var buf []byte
	n, secs, err := benchkit.Produce(1, e.dur, func(_, i int) (int, error) {
		buf = rawRecord(buf[:0], e.pool.At(i))
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		return 1, syscall.Fdatasync(int(f.Fd()))
	})
	r := benchkit.Rate("raw-fsync-1", n, secs)
	r.Set("fsyncs_per_event", 1)
	return r, err
}

// rawGroup is a group commit in its simplest form: producers queue records;
// one writer takes all that is queued, writes it with one write(2), calls
// fdatasync once, and acknowledges each producer.
//
// Without gathering, producers that each wait for their ack split into two
// halves that take turns: while one half's fdatasync runs the other queues,
// and the writer takes that half alone the moment it is free. With gather,
// the writer waits (at most a quarter of its last fdatasync, at most 1 ms)
// until the queue holds as many records as it just answered plus those that
// arrived during that fdatasync: every producer that is waiting, or about to be again,
// goes into one write and one fdatasync. A lone producer never waits.
type rawGroup struct {
	f      *os.File
	gather bool
	mu     sync.Mutex
	queue  []rawReq
	target int           // when > 0, the queue length at which to signal full
	wake   chan struct{} // a record was queued
	full   chan struct{} // the queue reached target
	groups int64
}

type rawReq struct {
	rec []byte
	ack chan error
}

func newRawGroup(f *os.File, gather bool) *rawGroup {
	return &rawGroup{f: f, gather: gather, wake: make(chan struct{}, 1), full: make(chan struct{}, 1)}
}

// submit queues a record; its ack channel receives the commit's error.
func (g *rawGroup) submit(r rawReq) {
	g.mu.Lock()
	g.queue = append(g.queue, r)
	reached := g.target > 0 && len(g.queue) >= g.target
	if reached {
		g.target = 0
	}
	g.mu.Unlock()
	signal(g.wake)
	if reached {
		signal(g.full)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// wait blocks until the queue holds want records or limit has passed.
func (g *rawGroup) wait(want int, limit time.Duration, timer *time.Timer, quit <-chan struct{}) {
	g.mu.Lock()
	if len(g.queue) >= want {
		g.mu.Unlock()
		return
	}
	g.target = want
	g.mu.Unlock()
	select {
	case <-g.full: // left over from a target reached after its wait ended
	default:
	}
	timer.Reset(limit)
	select {
	case <-g.full:
	case <-timer.C:
	case <-quit:
	}
	timer.Stop()
	g.mu.Lock()
	g.target = 0
	g.mu.Unlock()
}

func (g *rawGroup) writer(quit <-chan struct{}) {
	var buf []byte
	var spare []rawReq
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	answered := 0          // producers answered by the last fdatasync
	arrived := 0           // records queued while it ran
	var last time.Duration // how long its write + fdatasync took
	for {
		select {
		case <-g.wake:
		case <-quit:
			return
		}
		for {
			if want, limit := answered+arrived, min(last/4, time.Millisecond); g.gather && want > 1 && limit > 0 {
				g.wait(want, limit, timer, quit)
			}
			g.mu.Lock()
			reqs := g.queue
			if len(reqs) == 0 {
				g.mu.Unlock()
				break
			}
			g.queue = spare[:0]
			g.mu.Unlock()
			start := time.Now()
			buf = buf[:0]
			for _, r := range reqs {
				buf = append(buf, r.rec...)
			}
			_, err := g.f.Write(buf)
			if err == nil {
				err = syscall.Fdatasync(int(g.f.Fd()))
			}
			last = time.Since(start)
			g.mu.Lock()
			arrived = len(g.queue)
			g.mu.Unlock()
			g.groups++
			for _, r := range reqs {
				r.ack <- err
			}
			answered = len(reqs)
			clear(reqs)
			spare = reqs
		}
	}
}

// rawGroupScenario: producers each queue one record and wait for its ack.
func rawGroupScenario(producers int, gather bool) func(e *env) (benchkit.Result, error) {
	return func(e *env) (benchkit.Result, error) {
		f, err := openRawLog(e.dir)
		if err != nil {
			return benchkit.Result{}, err
		}
		defer f.Close()
		g := newRawGroup(f, gather)
		quit := make(chan struct{})
		done := make(chan struct{})
		go func() { g.writer(quit); close(done) }()
		acks := make([]chan error, producers)
		bufs := make([][]byte, producers)
		for i := range acks {
			acks[i] = make(chan error, 1)
		}
		n, secs, err := benchkit.Produce(producers, e.dur, func(p, i int) (int, error) {
			bufs[p] = rawRecord(bufs[p][:0], e.pool.At(p*7919+i))
			g.submit(rawReq{bufs[p], acks[p]})
			return 1, <-acks[p]
		})
		close(quit)
		<-done
		r := benchkit.Rate("", n, secs)
		r.Set("events_per_fsync", float64(n)/float64(max(g.groups, 1)))
		return r, err
	}
}
