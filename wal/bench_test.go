package wal

// Benchmarks of durable append against a raw baseline on the same disk.
//
//	go test -run XXX -bench . -benchtime 2s ./wal/
//
// The number to watch (SPEC "Performance"): BenchmarkAppend/sync=always/
// producers=32 divided by BenchmarkRawGroupCommit/producers=32, in
// events/s; the spec asks for at least 0.8.

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
)

// benchPayload is a realistic analytics event, about 200 bytes of JSON.
var benchPayload = []byte(`{"type":"impression","user":"u-8f14e45fceea167a","flag":"checkout_v2",` +
	`"variant":"treatment","ts":1717171717123,"attrs":{"country":"DE","plan":"pro",` +
	`"device":"ios"},"session":"s-45c48cce2e2d7fbd"}`)

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// produce runs fn b.N times in total across p goroutines.
func produce(b *testing.B, p int, fn func()) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range p {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				fn()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

func benchLog(b *testing.B, mode SyncMode) *Stream {
	l, err := Open(filepath.Join(b.TempDir(), "bench.db"), &Options{Sync: mode, CompletedKeep: -1})
	require.NoError(b, err)
	b.Cleanup(func() { _ = l.Close() })
	s, err := l.Stream("bench")
	require.NoError(b, err)
	return s
}

func BenchmarkAppend(b *testing.B) {
	for _, mode := range []SyncMode{SyncAlways, SyncNone} {
		for _, p := range []int{1, 32} {
			b.Run("sync="+mode.String()+"/producers="+itoa(p), func(b *testing.B) {
				s := benchLog(b, mode)
				produce(b, p, func() {
					if _, err := s.Append("", benchPayload); err != nil {
						b.Error(err)
					}
				})
				reportRate(b)
			})
		}
	}
}

func BenchmarkAppendMany(b *testing.B) {
	const per = 100
	entries := make([]Entry, per)
	for i := range entries {
		entries[i].Payload = benchPayload
	}
	for _, mode := range []SyncMode{SyncAlways, SyncNone} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			s := benchLog(b, mode)
			b.ResetTimer()
			for done := 0; done < b.N; done += per {
				if _, err := s.AppendMany(entries[:min(per, b.N-done)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b)
		})
	}
}

// BenchmarkAppendAsync: one producer keeping up to 10k events in flight.
func BenchmarkAppendAsync(b *testing.B) {
	const window = 10000
	for _, mode := range []SyncMode{SyncAlways, SyncNone} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			s := benchLog(b, mode)
			sem := make(chan struct{}, window)
			var failed atomic.Int64
			entry := []Entry{{Payload: benchPayload}}
			cb := func(_ uint64, err error) {
				if err != nil {
					failed.Add(1)
				}
				<-sem
			}
			b.ResetTimer()
			for range b.N {
				sem <- struct{}{}
				s.AppendAsync(entry, cb)
			}
			for range window {
				sem <- struct{}{}
			}
			b.StopTimer()
			require.Zero(b, failed.Load())
			reportRate(b)
		})
	}
}

// rawGroup is the baseline: what a minimal hand-written WAL does. One
// writer goroutine takes every queued record, writes them with one
// write(2), calls fdatasync once, and acknowledges each producer.
type rawGroup struct {
	f     *os.File
	mu    sync.Mutex
	queue []rawReq
	wake  chan struct{}
	quit  chan struct{}
	done  chan struct{}
	// groups and events counted for the report.
	groups, events int
}

type rawReq struct {
	rec []byte
	ack chan error
}

func (g *rawGroup) run() {
	defer close(g.done)
	var buf []byte
	var spare []rawReq
	for {
		select {
		case <-g.wake:
		case <-g.quit:
			return
		}
		for {
			g.mu.Lock()
			reqs := g.queue
			if len(reqs) == 0 {
				g.mu.Unlock()
				break
			}
			g.queue = spare[:0]
			g.mu.Unlock()
			buf = buf[:0]
			for _, r := range reqs {
				buf = append(buf, r.rec...)
			}
			_, err := g.f.Write(buf)
			if err == nil {
				err = syscall.Fdatasync(int(g.f.Fd()))
			}
			g.groups++
			g.events += len(reqs)
			for _, r := range reqs {
				r.ack <- err
			}
			clear(reqs)
			spare = reqs
		}
	}
}

func (g *rawGroup) append(rec []byte, ack chan error) error {
	g.mu.Lock()
	g.queue = append(g.queue, rawReq{rec, ack})
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return <-ack
}

func openRaw(b *testing.B) *os.File {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(b, err)
	b.Cleanup(func() { _ = f.Close() })
	return f
}

func benchRecord() []byte {
	return format.EncodeRecord(format.Record{ID: format.EventID([8]byte{1}, 1), Time: time.Now(), Payload: benchPayload})
}

func BenchmarkRawGroupCommit(b *testing.B) {
	for _, p := range []int{1, 32} {
		b.Run("producers="+itoa(p), func(b *testing.B) {
			g := &rawGroup{f: openRaw(b), wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
			go g.run()
			rec := benchRecord()
			var acks sync.Pool
			acks.New = func() any { return make(chan error, 1) }
			produce(b, p, func() {
				ack := acks.Get().(chan error)
				if err := g.append(rec, ack); err != nil {
					b.Error(err)
				}
				acks.Put(ack)
			})
			close(g.quit)
			<-g.done
			reportRate(b)
			b.ReportMetric(float64(g.events)/float64(max(g.groups, 1)), "events/fsync")
		})
	}
}

// BenchmarkRawFsync1: one producer, write(2) and fdatasync per event.
func BenchmarkRawFsync1(b *testing.B) {
	f := openRaw(b)
	rec := benchRecord()
	b.ResetTimer()
	for range b.N {
		if _, err := f.Write(rec); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b)
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkDrainTransitions: the WAL work of draining a backlog in batches
// of 1000, SyncAlways: Seal then Complete (two commits per batch) against
// CompleteAndSeal (one). The backlog is written first, not timed.
func BenchmarkDrainTransitions(b *testing.B) {
	const batch = 1000
	for _, combined := range []bool{false, true} {
		name := "seal+complete"
		if combined {
			name = "complete-and-seal"
		}
		b.Run(name, func(b *testing.B) {
			s := benchLog(b, SyncAlways)
			n := max(b.N, 2*batch)
			entries := make([]Entry, 10_000)
			for i := range entries {
				entries[i].Payload = benchPayload
			}
			for done := 0; done < n; done += len(entries) {
				_, err := s.AppendMany(entries[:min(len(entries), n-done)])
				require.NoError(b, err)
			}
			opts := SealOptions{MaxEvents: batch, Force: true}
			b.ResetTimer()
			res, err := s.Seal(opts)
			require.NoError(b, err)
			for res.Batch != nil {
				if combined {
					res, err = s.CompleteAndSeal(res.Batch.Seq, opts)
				} else {
					require.NoError(b, s.Complete(res.Batch.Seq))
					res, err = s.Seal(opts)
				}
				require.NoError(b, err)
			}
			b.StopTimer()
			require.Zero(b, s.Stats().PendingEvents)
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
