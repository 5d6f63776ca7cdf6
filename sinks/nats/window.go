package walnats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Window compares a stream's duplicate window with a processor's retry
// horizon. JetStream drops a message whose Nats-Msg-Id it stored within
// the window, so redeliveries of a batch (after a lost PubAck, a retry, a
// crash before the batch was marked complete) are stored once only while
// they come within the window of the first. Past it the stream stores them
// again: delivery is then at least once.
type Window struct {
	// Stream is the JetStream stream's name.
	Stream string
	// Duplicates is its duplicate window (StreamConfig.Duplicates).
	Duplicates time.Duration
	// Horizon is the retry horizon compared with it (WithRetryHorizon).
	Horizon time.Duration
}

// Covered reports whether every retry the horizon allows falls within the
// window. A process that stays down longer than the window, a requeue
// from dead letters and a sink's Retry-After are never covered.
func (w Window) Covered() bool { return w.Horizon <= w.Duplicates }

func (w Window) String() string {
	if w.Covered() {
		return fmt.Sprintf("stream %q drops redeliveries within %s; the retry horizon %s fits inside it", w.Stream, w.Duplicates, w.Horizon)
	}
	return fmt.Sprintf("stream %q drops redeliveries only within %s, but the retry horizon is %s: a retry after the window is stored again (raise the stream's Duplicates, or shorten the processor's retries)", w.Stream, w.Duplicates, w.Horizon)
}

// Window returns the comparison of the last New or Check, without asking
// the server.
func (d *Dispatcher[T]) Window() Window { return *d.window.Load() }

// Check reads the stream's configuration within ctx and compares its
// duplicate window with the retry horizon. It returns the comparison and,
// when the horizon is longer, an error wrapping ErrWindowShort with the
// same words (logged at WARN as well). Other errors (wrapping ErrStream,
// or the client's) mean the stream could not be read or cannot be used.
func (d *Dispatcher[T]) Check(ctx context.Context) (Window, error) {
	s, err := d.js.Stream(ctx, d.stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return Window{}, fmt.Errorf("%w: stream %q not found", ErrStream, d.stream)
		}
		return Window{}, fmt.Errorf("%w: reading stream %q: %w", ErrStream, d.stream, err)
	}
	cfg := s.CachedInfo().Config
	if cfg.NoAck {
		return Window{}, fmt.Errorf("%w: stream %q has NoAck set: it sends no PubAck, so no publish could be confirmed", ErrStream, d.stream)
	}
	w := Window{Stream: d.stream, Duplicates: cfg.Duplicates, Horizon: d.cfg.horizon}
	d.window.Store(&w)
	if !w.Covered() {
		d.cfg.logger.Warn("walnats: "+w.String(), "stream", w.Stream, "duplicate_window", w.Duplicates, "retry_horizon", w.Horizon)
		return w, fmt.Errorf("%w: %s", ErrWindowShort, w)
	}
	return w, nil
}
