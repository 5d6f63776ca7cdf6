package walnats

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
)

// errAckLost stands for a PubAck that never reached the producer (a
// network cut, a crash before the batch was marked complete): the stream
// stored the messages, the processor retries the batch anyway.
var errAckLost = errors.New("test: PubAck lost")

// TestDuplicateWindowAgainstRedelivery runs a processor whose first
// attempt of every batch publishes and then loses its acks, so every
// event is published twice under its ID. When the retry comes within the
// stream's duplicate window the stream drops it (each event stored once,
// the second PubAcks say Duplicate); when it comes after the window, the
// stream stores every event a second time, as docs/sinks.md says.
func TestDuplicateWindowAgainstRedelivery(t *testing.T) {
	for _, c := range []struct {
		name       string
		window     time.Duration
		retry      time.Duration
		stored     int // messages per event
		warnsAtNew bool
	}{
		{name: "retry inside the window", window: 10 * time.Second, retry: 50 * time.Millisecond, stored: 1},
		{name: "retry after the window", window: 100 * time.Millisecond, retry: 600 * time.Millisecond, stored: 2, warnsAtNew: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			const events = 40
			s := startServer(t)
			nc, js := connect(t, s)
			createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, Duplicates: c.window})

			popts := []processor.Option{processor.WithBatchSize(10), processor.WithMaxAge(time.Hour),
				processor.WithInactiveTimeout(10 * time.Millisecond), processor.WithJitter(0),
				processor.WithRetryDelay(c.retry, c.retry), processor.WithMaxRetries(3),
				processor.WithDispatchTimeout(2 * time.Second)}
			horizon, err := processor.RetryHorizon(popts...)
			require.NoError(t, err)
			var logs bytes.Buffer
			d, err := New[ev](context.Background(), nc, "EVENTS", "events.{stream}",
				WithRetryHorizon(horizon), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			require.NoError(t, err)
			require.Equal(t, c.warnsAtNew, !d.Window().Covered(), "%s", d.Window())
			require.Equal(t, c.warnsAtNew, bytes.Contains(logs.Bytes(), []byte("level=WARN")), logs.String())

			lossy := dispatcher.Func[ev](func(ctx context.Context, b *dispatcher.Batch[ev]) error {
				err := d.Dispatch(ctx, b)
				if b.Attempt == 1 && err == nil {
					return errAckLost
				}
				return err
			})
			p, err := processor.Open[ev](filepath.Join(t.TempDir(), "w.wal"), lossy, popts...)
			require.NoError(t, err)
			evs := make([]ev, events)
			for i := range evs {
				evs[i] = ev{N: i}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, p.EnqueueMany(ctx, evs))
			require.NoError(t, p.Drain(ctx))
			require.NoError(t, p.Stop(ctx))
			st := p.Stats()
			require.Zero(t, st.DeadEvents)

			msgs := storedMsgs(t, js, "EVENTS")
			perID := map[string]int{}
			for _, m := range msgs {
				perID[m.Header.Get(jetstream.MsgIDHeader)]++
			}
			require.Len(t, perID, events)
			for id, n := range perID {
				require.Equal(t, c.stored, n, "event %s", id)
			}
			require.Len(t, msgs, events*c.stored)
			wantDup := int64(0)
			if c.stored == 1 {
				wantDup = events
			}
			require.Equal(t, Stats{Acked: 2 * events, Duplicates: wantDup}, d.Stats())
			t.Logf("window %s, retry after %s: %d events, %d messages in the stream, %d PubAcks with Duplicate",
				c.window, c.retry, events, len(msgs), d.Stats().Duplicates)
		})
	}
}
