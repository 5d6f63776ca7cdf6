package processor

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// gateHandler is a slog handler that holds the goroutine logging msg until
// release is closed, signalling held when it starts holding.
type gateHandler struct {
	msg     string
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (h *gateHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *gateHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *gateHandler) WithGroup(string) slog.Handler            { return h }
func (h *gateHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.held) })
		<-h.release
	}
	return nil
}

// Stop with a context that is already canceled returns at once, even when
// the loop is busy (here: logging) at the moment Stop hands it the stop
// deadline, and a dispatch is running that ends only when cut short.
func TestStopWithCanceledContextWhileLoopBusy(t *testing.T) {
	noLeaks(t)
	h := &gateHandler{msg: "walbatch: batch dead-lettered", held: make(chan struct{}), release: make(chan struct{})}
	sink := newRecSink(func(ctx context.Context, a attempt) error {
		if a.Ns[0] == 1 {
			<-ctx.Done() // hangs until Stop's deadline cancels it
			return ctx.Err()
		}
		return dispatcher.Permanent(errors.New("refused"))
	})
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1), WithMaxInFlight(2),
		WithStopTimeout(20*time.Second), WithLogger(slog.New(h)))...)
	enqueueN(t, p, 1, 2)
	select {
	case <-h.held: // the loop is inside DeadLetter's log call
	case <-time.After(10 * time.Second):
		t.Fatal("batch 2 was not dead-lettered")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- p.Stop(ctx) }()
	time.Sleep(100 * time.Millisecond) // Stop has handed over its deadline and seen ctx end
	close(h.release)
	select {
	case err := <-stopped:
		require.Less(t, time.Since(start), 5*time.Second)
		require.ErrorIs(t, err, context.Canceled, "ctx cut the drain short")
		var u *UndeliveredError
		require.ErrorAs(t, err, &u)
		require.EqualValues(t, 1, u.InFlightEvents, "the hanging batch; the refused one is a dead letter")
	case <-time.After(10 * time.Second):
		t.Fatal("Stop with a canceled context waited for the stop timeout")
	}
}
