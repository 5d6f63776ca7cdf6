package walnats

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
)

func TestNewRefuses(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	createStream(t, js, jetstream.StreamConfig{Name: "QUIET", Subjects: []string{"quiet.>"}, NoAck: true})
	ctx := context.Background()

	_, err := New[ev](ctx, nc, "MISSING", "events.x")
	require.ErrorIs(t, err, ErrStream)
	require.Contains(t, err.Error(), `"MISSING" not found`)
	_, err = New[ev](ctx, nc, "QUIET", "quiet.x")
	require.ErrorIs(t, err, ErrStream)
	require.Contains(t, err.Error(), "NoAck")

	for name, c := range map[string]struct {
		stream, subj string
		opts         []Option
	}{
		"template":    {"EVENTS", "events.{bad}", nil},
		"stream":      {"", "events.x", nil},
		"logger":      {"EVENTS", "events.x", []Option{WithLogger(nil)}},
		"pending":     {"EVENTS", "events.x", []Option{WithMaxPending(0)}},
		"ack timeout": {"EVENTS", "events.x", []Option{WithAckTimeout(0)}},
		"horizon":     {"EVENTS", "events.x", []Option{WithRetryHorizon(-time.Second)}},
		"body type":   {"EVENTS", "events.x", []Option{WithBody(func(*dispatcher.Event[string]) ([]byte, error) { return nil, nil })}},
		"nil body":    {"EVENTS", "events.x", []Option{WithBody[ev](nil)}},
	} {
		_, err := New[ev](ctx, nc, c.stream, c.subj, c.opts...)
		require.ErrorIs(t, err, ErrInvalidOption, name)
	}
	_, err = New[ev](ctx, nil, "EVENTS", "events.x")
	require.ErrorIs(t, err, ErrInvalidOption)
}

// New warns, and Check says, when the processor may retry a batch later
// than the stream still remembers its message IDs.
func TestDuplicateWindowCheck(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, Duplicates: 5 * time.Second})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()

	popts := []processor.Option{processor.WithMaxRetries(3), processor.WithRetryDelay(100*time.Millisecond, time.Second),
		processor.WithDispatchTimeout(time.Second), processor.WithJitter(0)}
	h, err := processor.RetryHorizon(popts...)
	require.NoError(t, err)
	require.Equal(t, 4*time.Second+700*time.Millisecond, h)
	d, err := New[ev](ctx, nc, "EVENTS", "events.x", WithRetryHorizon(h), WithLogger(logger))
	require.NoError(t, err)
	require.Empty(t, logs.String())
	w, err := d.Check(ctx)
	require.NoError(t, err)
	require.True(t, w.Covered())
	require.Equal(t, Window{Stream: "EVENTS", Duplicates: 5 * time.Second, Horizon: h}, w)

	// The processor's defaults retry for about 22 minutes.
	d, err = New[ev](ctx, nc, "EVENTS", "events.x", WithLogger(logger))
	require.NoError(t, err)
	require.Contains(t, logs.String(), "level=WARN")
	require.Contains(t, logs.String(), "drops redeliveries only within 5s, but the retry horizon is 21m43.2s")
	w, err = d.Check(ctx)
	require.ErrorIs(t, err, ErrWindowShort)
	require.False(t, w.Covered())
	require.Equal(t, w, d.Window())
}
