package walnats

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// After the connection is closed, nothing the dispatcher started is left
// running (the async publisher's goroutines end with the connection).
func TestNoGoroutineLeftAfterClose(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs after the server and connection are closed
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "events.{stream}")
	require.NoError(t, dispatch(t, d, batchOf("b1", 0, 50)))
	_ = outcomes(t, dispatch(t, newD(t, nc, "EVENTS", "nowhere.x"), batchOf("b2", 0, 5)), 5)
}
