package walnats

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// ev is the event type of these tests.
type ev struct {
	N int    `json:"n" msgpack:"n"`
	P string `json:"p,omitempty" msgpack:"p,omitempty"`
}

// startServer runs a real nats-server with JetStream in this process,
// on a free loopback port with its store in the test's temporary
// directory, and shuts it down on cleanup.
func startServer(t testing.TB, tweak ...func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	for _, f := range tweak {
		f(opts)
	}
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// connect opens a client connection, closed on cleanup.
func connect(t testing.TB, s *server.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// createStream creates a stream; subjects default to EVENTS.>... as given.
func createStream(t testing.TB, js jetstream.JetStream, cfg jetstream.StreamConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := js.CreateStream(ctx, cfg)
	require.NoError(t, err)
}

// newD builds a dispatcher with a short retry horizon (no warning) and
// JSON bodies (the hand-made batches have no payload); opts override.
func newD(t testing.TB, nc *nats.Conn, stream, subj string, opts ...Option) *Dispatcher[ev] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := New[ev](ctx, nc, stream, subj, append([]Option{WithRetryHorizon(time.Second), WithBody(JSON[ev])}, opts...)...)
	require.NoError(t, err)
	return d
}

// batchOf makes a batch of events numbered from..to-1.
func batchOf(id string, from, to int) *dispatcher.Batch[ev] {
	b := &dispatcher.Batch[ev]{ID: id, Stream: "orders", Attempt: 1}
	for n := from; n < to; n++ {
		b.Events = append(b.Events, dispatcher.Event[ev]{ID: fmt.Sprintf("%s-e%d", id, n), Seq: uint64(n), Value: ev{N: n}})
	}
	return b
}

func dispatch(t testing.TB, d *Dispatcher[ev], b *dispatcher.Batch[ev]) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.Dispatch(ctx, b)
}

// outcomes returns the per-event outcomes of a Dispatch result (all nil
// for nil).
func outcomes(t testing.TB, err error, n int) []error {
	t.Helper()
	if err == nil {
		return make([]error, n)
	}
	errs, ok := dispatcher.EventOutcomes(err, n)
	require.True(t, ok, "not per-event outcomes: %v", err)
	return errs
}

// storedMsgs reads every message of a stream, in order.
func storedMsgs(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}
