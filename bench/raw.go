package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"syscall"

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
type rawGroup struct {
	f      *os.File
	mu     sync.Mutex
	queue  []rawReq
	wake   chan struct{}
	groups int64
}

type rawReq struct {
	rec []byte
	ack chan error
}

func (g *rawGroup) writer(quit <-chan struct{}) {
	var buf []byte
	var spare []rawReq
	for {
		select {
		case <-g.wake:
		case <-quit:
			return
		}
		for {
			g.mu.Lock()
			reqs := g.queue
			g.queue = spare[:0]
			g.mu.Unlock()
			if len(reqs) == 0 {
				spare = reqs
				break
			}
			buf = buf[:0]
			for _, r := range reqs {
				buf = append(buf, r.rec...)
			}
			_, err := g.f.Write(buf)
			if err == nil {
				err = syscall.Fdatasync(int(g.f.Fd()))
			}
			g.groups++
			for _, r := range reqs {
				r.ack <- err
			}
			clear(reqs)
			spare = reqs
		}
	}
}

func runRawGroup(e *env) (benchkit.Result, error) {
	f, err := openRawLog(e.dir)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer f.Close()
	g := &rawGroup{f: f, wake: make(chan struct{}, 1)}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() { g.writer(quit); close(done) }()
	const producers = 32
	acks := make([]chan error, producers)
	bufs := make([][]byte, producers)
	for i := range acks {
		acks[i] = make(chan error, 1)
	}
	n, secs, err := benchkit.Produce(producers, e.dur, func(p, i int) (int, error) {
		bufs[p] = rawRecord(bufs[p][:0], e.pool.At(p*7919+i))
		g.mu.Lock()
		g.queue = append(g.queue, rawReq{bufs[p], acks[p]})
		g.mu.Unlock()
		select {
		case g.wake <- struct{}{}:
		default:
		}
		return 1, <-acks[p]
	})
	close(quit)
	<-done
	r := benchkit.Rate("raw-group-32", n, secs)
	r.Set("events_per_fsync", float64(n)/float64(max(g.groups, 1)))
	return r, err
}
