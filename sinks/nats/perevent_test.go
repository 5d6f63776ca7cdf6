package walnats

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/processor"
)

// Through a real processor: in one batch, the event over the stream's
// MaxMsgSize goes to dead letters alone with the server's reason, and
// the rest are in the stream once each.
func TestProcessorDeadLettersOnlyTheRefusedEvent(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, MaxMsgSize: 512})
	d := newD(t, nc, "EVENTS", "events.{stream}", WithBody(JSON[ev]))
	p, err := processor.Open[ev](filepath.Join(t.TempDir(), "w.wal"), d, processor.WithBatchSize(5),
		processor.WithMaxAge(time.Hour), processor.WithInactiveTimeout(time.Hour))
	require.NoError(t, err)
	evs := []ev{{N: 0}, {N: 1}, {N: 2, P: strings.Repeat("x", 1000)}, {N: 3}, {N: 4}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.EnqueueMany(ctx, evs))
	require.NoError(t, p.Drain(ctx))
	var dead []processor.DeadLetter[ev]
	require.NoError(t, p.DeadLetters(func(dl processor.DeadLetter[ev]) error { dead = append(dead, dl); return nil }))
	require.NoError(t, p.Stop(ctx))

	require.Len(t, dead, 1)
	require.Equal(t, 2, dead[0].Value.N)
	require.Contains(t, dead[0].Reason, "message size exceeds maximum allowed")
	msgs := storedMsgs(t, js, "EVENTS")
	require.Len(t, msgs, 4)
	require.Equal(t, Stats{Acked: 4}, d.Stats())
}
