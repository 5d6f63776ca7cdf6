package processor

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// tev is the event type of these tests: N orders events, K is the batch
// key (when a test uses one), G the producer, P pads the payload.
type tev struct {
	N int    `msgpack:"n" json:"n"`
	K string `msgpack:"k,omitempty" json:"k,omitempty"`
	G int    `msgpack:"g,omitempty" json:"g,omitempty"`
	P string `msgpack:"p,omitempty" json:"p,omitempty"`
}

// noLeaks checks, after every other cleanup of the test (Stop included),
// that no goroutine is left behind. Call it first in a test.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// quiet keeps the timers out of the way: only batch size, Flush and Stop
// cut batches unless a test sets a timer. Later options override it.
func quiet(opts ...Option) []Option {
	return append([]Option{WithMaxAge(time.Hour), WithInactiveTimeout(time.Hour), WithStopTimeout(3 * time.Second)}, opts...)
}

// walPath is a fresh WAL file in the test's temporary directory.
func walPath(t *testing.T) string { return filepath.Join(t.TempDir(), "test.wal") }

// openP opens a processor and stops it on cleanup (Stop is idempotent).
func openP(t *testing.T, path string, d dispatcher.Dispatcher[tev], opts ...Option) *Processor[tev] {
	t.Helper()
	p, err := Open[tev](path, d, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p
}

// attempt is one Dispatch call as the recording sink saw it.
type attempt struct {
	BatchID  string
	Attempt  int
	Ns       []int
	Gs       []int
	Keys     []string
	IDs      []string
	Seqs     []uint64
	Enqueued []time.Time
	At       time.Time // when Dispatch was called
	Err      error     // what it returned
}

// recSink is a dispatcher that records every attempt; fn (when set)
// decides each attempt's outcome.
type recSink struct {
	mu       sync.Mutex
	attempts []attempt
	fn       func(ctx context.Context, a attempt) error
}

func newRecSink(fn func(ctx context.Context, a attempt) error) *recSink { return &recSink{fn: fn} }

func (s *recSink) Dispatch(ctx context.Context, b *dispatcher.Batch[tev]) error {
	a := attempt{BatchID: b.ID, Attempt: b.Attempt, At: time.Now()}
	for _, e := range b.Events {
		a.Ns = append(a.Ns, e.Value.N)
		a.Gs = append(a.Gs, e.Value.G)
		a.Keys = append(a.Keys, e.Key)
		a.IDs = append(a.IDs, e.ID)
		a.Seqs = append(a.Seqs, e.Seq)
		a.Enqueued = append(a.Enqueued, e.EnqueuedAt)
	}
	s.mu.Lock()
	fn := s.fn
	s.mu.Unlock()
	var err error
	if fn != nil {
		err = fn(ctx, a)
	}
	a.Err = err
	s.mu.Lock()
	s.attempts = append(s.attempts, a)
	s.mu.Unlock()
	return err
}

func (s *recSink) setFn(fn func(ctx context.Context, a attempt) error) {
	s.mu.Lock()
	s.fn = fn
	s.mu.Unlock()
}

func (s *recSink) all() []attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]attempt(nil), s.attempts...)
}

func (s *recSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.attempts)
}

// delivered returns the N of every event the sink accepted, in the order
// it accepted them (the leading events of a partial result and the
// delivered ones of a per-event result included).
func (s *recSink) delivered() []int {
	var out []int
	for _, a := range s.all() {
		if a.Err == nil {
			out = append(out, a.Ns...)
			continue
		}
		if outs, ok := dispatcher.EventOutcomes(a.Err, len(a.Ns)); ok {
			for i, e := range outs {
				if e == nil {
					out = append(out, a.Ns[i])
				}
			}
			continue
		}
		if n, ok := dispatcher.Delivered(a.Err, len(a.Ns)); ok {
			out = append(out, a.Ns[:n]...)
		}
	}
	return out
}

// okBatches returns the attempts that succeeded.
func (s *recSink) okBatches() []attempt {
	var out []attempt
	for _, a := range s.all() {
		if a.Err == nil {
			out = append(out, a)
		}
	}
	return out
}

// waitDelivered waits until the sink accepted n events.
func (s *recSink) waitDelivered(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(s.delivered()) >= n }, 15*time.Second, 2*time.Millisecond,
		"want %d events delivered", n)
}

var errDown = errors.New("sink down")

// failing always fails, retryably.
func failing(context.Context, attempt) error { return errDown }

// seqN returns [from, from+n).
func seqN(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// enqueueN enqueues events N = from..from+n-1 one by one.
func enqueueN(t *testing.T, p *Processor[tev], from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		require.NoError(t, p.Enqueue(context.Background(), tev{N: i}))
	}
}

// notes collects notifications of the kinds it subscribed to.
type notes struct {
	mu  sync.Mutex
	got []Notification
}

func (n *notes) listen(note Notification) {
	n.mu.Lock()
	n.got = append(n.got, note)
	n.mu.Unlock()
}

func (n *notes) of(kind Kind) []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Notification
	for _, x := range n.got {
		if x.Kind == kind {
			out = append(out, x)
		}
	}
	return out
}

// listeners returns the options that register n for kinds at Open: a
// processor opened on a file with work in it may dispatch before a
// Subscribe after Open would run.
func (n *notes) listeners(kinds ...Kind) []Option {
	opts := make([]Option, len(kinds))
	for i, k := range kinds {
		opts[i] = WithListener(k, n.listen)
	}
	return opts
}

func (n *notes) subscribe(p *Processor[tev], kinds ...Kind) {
	for _, k := range kinds {
		p.Subscribe(k, n.listen)
	}
}

// deadLetters reads the dead letters of a processor's stream.
func deadLetters(t *testing.T, s *wal.Stream) []wal.DeadLetter {
	t.Helper()
	var out []wal.DeadLetter
	require.NoError(t, s.ForEachDead(func(d wal.DeadLetter) error {
		out = append(out, d)
		return nil
	}))
	return out
}

// inspect opens a stopped processor's file with the WAL alone.
func inspect(t *testing.T, path string, fn func(s *wal.Stream)) {
	t.Helper()
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	s, err := l.Stream(DefaultStream)
	require.NoError(t, err)
	fn(s)
}

// requireLeft asserts that err is what Stop returns when it left events in
// the WAL and nothing else went wrong: ErrUndelivered, with want's counts
// per stream (a stream that left nothing is not in want) and their sum.
func requireLeft(t *testing.T, err error, want map[string]Left) *UndeliveredError {
	t.Helper()
	require.ErrorIs(t, err, ErrUndelivered)
	var u *UndeliveredError
	require.ErrorAs(t, err, &u)
	require.Equal(t, want, u.Streams)
	var sum Left
	for _, l := range want {
		sum = sum.add(l)
	}
	require.Equal(t, sum, u.Left)
	require.Same(t, u, err, "Stop reports nothing but what it left")
	require.NoError(t, u.Err, "the stop timeout ended the drain, not ctx")
	return u
}

// leftIn reads from the file at path (closed: Stop closed it) what its
// streams hold pending and in flight, as the next open finds them; streams
// that hold nothing are left out.
func leftIn(t *testing.T, path string, streams ...string) map[string]Left {
	t.Helper()
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	return leftOfLog(t, l, streams...)
}

// leftOfLog is leftIn for an open WAL.
func leftOfLog(t *testing.T, l *wal.Log, streams ...string) map[string]Left {
	t.Helper()
	out := map[string]Left{}
	for _, name := range streams {
		s, err := l.Stream(name)
		require.NoError(t, err)
		if left := leftOf(StreamStats(s.Stats())); left.Events() > 0 {
			out[name] = left
		}
	}
	return out
}
