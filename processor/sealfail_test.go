package processor

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// countHandler counts the records logged with msg.
type countHandler struct {
	msg string
	n   atomic.Int64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countHandler) WithGroup(string) slog.Handler            { return h }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}

// A seal that keeps failing (a full disk, a damaged event key) is retried
// on the retry schedule, not every millisecond: the loop must not spin
// and flood the log while the cause lasts.
func TestFailingSealDoesNotHotLoop(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	func() {
		l, err := wal.Open(path, nil)
		require.NoError(t, err)
		defer func() { require.NoError(t, l.Close()) }()
		s, err := l.Stream(DefaultStream)
		require.NoError(t, err)
		for i := 1; i <= 2; i++ {
			payload, err := encode(tev{N: i})
			require.NoError(t, err)
			_, err = s.Append("", payload)
			require.NoError(t, err)
		}
		// A 9-byte key between events 1 and 2: every seal fails on it.
		require.NoError(t, format.RewriteStream(s, func(tx *bolt.Tx, _ *format.State) error {
			rs, _ := format.RawStreamOf(tx, DefaultStream)
			return rs.Events.Put(append(format.SeqKey(1), 0), []byte("x"))
		}))
	}()
	h := &countHandler{msg: "walbatch: seal failed"}
	p := openP(t, path, newRecSink(nil), WithMaxAge(time.Hour), WithInactiveTimeout(5*time.Millisecond),
		WithRetryDelay(200*time.Millisecond, time.Second), WithStopTimeout(100*time.Millisecond), WithLogger(slog.New(h)))
	require.Eventually(t, func() bool { return h.n.Load() > 0 }, 5*time.Second, time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	u := requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream))
	require.EqualValues(t, 2, u.PendingEvents, "no batch could be sealed")
	require.LessOrEqual(t, h.n.Load(), int64(10), "seal retried %d times in about 0.5s", h.n.Load())
}

// A delivered batch is marked complete even when the seal that would share
// its transaction (a move, see move.go) keeps failing.
func TestDeliveredBatchCompletesWhenItsSealFails(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	func() {
		l, err := wal.Open(path, nil)
		require.NoError(t, err)
		defer func() { require.NoError(t, l.Close()) }()
		s, err := l.Stream(DefaultStream)
		require.NoError(t, err)
		for i := 1; i <= 2; i++ {
			payload, err := encode(tev{N: i})
			require.NoError(t, err)
			_, err = s.Append("", payload)
			require.NoError(t, err)
		}
		res, err := s.Seal(wal.SealOptions{MaxEvents: 1})
		require.NoError(t, err)
		require.NotNil(t, res.Batch)
		require.NoError(t, format.RewriteStream(s, func(tx *bolt.Tx, _ *format.State) error {
			rs, _ := format.RawStreamOf(tx, DefaultStream)
			return rs.Events.Put(append(format.SeqKey(2), 0), []byte("x"))
		}))
	}()
	// Delivered after the inactivity timeout: event 2 is then due, and the
	// completion goes with its seal.
	sink := newRecSink(func(context.Context, attempt) error { time.Sleep(30 * time.Millisecond); return nil })
	p := openP(t, path, sink, WithMaxAge(time.Hour), WithInactiveTimeout(5*time.Millisecond),
		WithRetryDelay(50*time.Millisecond, time.Second), WithStopTimeout(100*time.Millisecond))
	sink.waitDelivered(t, 1)
	require.Eventually(t, func() bool { return p.Stats().InFlightBatches == 0 }, 5*time.Second, 5*time.Millisecond,
		"the delivered batch was never marked complete")
	require.Equal(t, []int{1}, sink.delivered())
}
