package walnats

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

func TestDispatchOneMessagePerEvent(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "events.{stream}.{key|none}.{header:region|global}", WithBody(JSON[ev]))

	b := batchOf("b1", 0, 3)
	b.Events[0].Key = "k1"
	b.Events[1].Headers = map[string]string{"region": "eu", "traceparent": "00-abc-def-01"}
	require.NoError(t, dispatch(t, d, b))

	msgs := storedMsgs(t, js, "EVENTS")
	require.Len(t, msgs, 3)
	wantSubj := []string{"events.orders.k1.global", "events.orders.none.eu", "events.orders.none.global"}
	for i, m := range msgs {
		require.Equal(t, wantSubj[i], m.Subject)
		require.Equal(t, b.Events[i].ID, m.Header.Get(jetstream.MsgIDHeader))
		require.Equal(t, "b1", m.Header.Get(HeaderBatchID))
		require.Equal(t, "orders", m.Header.Get(HeaderStream))
		var got ev
		require.NoError(t, json.Unmarshal(m.Data, &got))
		require.Equal(t, b.Events[i].Value, got)
	}
	require.Equal(t, "00-abc-def-01", msgs[1].Header.Get("traceparent"))
	require.Equal(t, "eu", msgs[1].Header.Get("region"))
	require.Equal(t, Stats{Acked: 3}, d.Stats())
}

// A batch dispatched again inside the duplicate window (a lost PubAck, a
// crash before the batch was marked complete) is stored once: the second
// PubAcks say Duplicate, and count as delivered.
func TestRedeliveryInsideWindowIsDelivered(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "events.{stream}")
	b := batchOf("b1", 0, 5)
	require.NoError(t, dispatch(t, d, b))
	b.Attempt = 2
	require.NoError(t, dispatch(t, d, b))
	require.Len(t, storedMsgs(t, js, "EVENTS"), 5)
	require.Equal(t, Stats{Acked: 10, Duplicates: 5}, d.Stats())
}

// By default the body is the payload as the WAL stores it.
func TestDefaultBodyIsTheStoredPayload(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d, err := New[ev](context.Background(), nc, "EVENTS", "events.x", WithRetryHorizon(0))
	require.NoError(t, err)
	b := batchOf("b1", 0, 1)
	b.Events[0].Payload = []byte{0x81, 0xa1, 0x6e, 0x00} // msgpack {"n": 0}
	require.NoError(t, dispatch(t, d, b))
	require.Equal(t, b.Events[0].Payload, storedMsgs(t, js, "EVENTS")[0].Data)
}

func TestBodyFunction(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "events.x", WithBody(func(e *dispatcher.Event[ev]) ([]byte, error) {
		if e.Value.N == 1 {
			return nil, errTest
		}
		return e.Payload, nil
	}))
	b := batchOf("b1", 0, 3)
	for i := range b.Events {
		b.Events[i].Payload = []byte{0x80 + byte(i)}
	}
	errs := outcomes(t, dispatch(t, d, b), 3)
	require.NoError(t, errs[0])
	require.True(t, dispatcher.IsPermanent(errs[1]))
	require.ErrorIs(t, errs[1], ErrBody)
	require.ErrorIs(t, errs[1], errTest)
	require.NoError(t, errs[2])
	msgs := storedMsgs(t, js, "EVENTS")
	require.Len(t, msgs, 2)
	require.Equal(t, []byte{0x80}, msgs[0].Data)
	require.Equal(t, []byte{0x82}, msgs[1].Data)
}

// Bad subjects and reserved headers fail their own event only, before
// anything is sent: a wildcard, whitespace or an over-long subject would
// make the server close the connection or route the message elsewhere,
// and an event header must not set Nats-Msg-Id or Nats-Rollup.
func TestInvalidSubjectsAndHeadersFailTheirEventOnly(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "events.{key}")
	b := batchOf("b1", 0, 8)
	keys := []string{"ok", "", "*", "a b", "x." + strings.Repeat("y", 2000), "ok", "ok", "ok"}
	for i := range b.Events {
		b.Events[i].Key = keys[i]
	}
	b.Events[5].Headers = map[string]string{"Nats-Rollup": "all"}
	b.Events[6].Headers = map[string]string{"walbatch-batch-id": "forged"}
	b.Events[7].Headers = map[string]string{"bad:name": "v"}
	errs := outcomes(t, dispatch(t, d, b), 8)
	require.NoError(t, errs[0])
	for i := 1; i <= 4; i++ {
		require.True(t, dispatcher.IsPermanent(errs[i]), "event %d: %v", i, errs[i])
		require.ErrorIs(t, errs[i], ErrSubject, "event %d", i)
	}
	for i := 5; i <= 7; i++ {
		require.True(t, dispatcher.IsPermanent(errs[i]), "event %d: %v", i, errs[i])
		require.ErrorIs(t, errs[i], ErrHeader, "event %d", i)
	}
	require.True(t, nc.IsConnected())
	require.Len(t, storedMsgs(t, js, "EVENTS"), 1)
}

// No stream listens on the subject: no responders, retryable (a stream
// may be being created, or its leader elected).
func TestNoRespondersIsRetryable(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "elsewhere.{stream}")
	errs := outcomes(t, dispatch(t, d, batchOf("b1", 0, 2)), 2)
	for _, err := range errs {
		require.Error(t, err)
		require.False(t, dispatcher.IsPermanent(err), "%v", err)
		require.ErrorIs(t, err, jetstream.ErrNoStreamResponse)
	}
}

// A subject bound to another stream than the one named is refused by the
// server (Nats-Expected-Stream): permanent, nothing stored in either.
func TestOtherStreamRefusesTheSubject(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	createStream(t, js, jetstream.StreamConfig{Name: "AUDIT", Subjects: []string{"audit.>"}})
	d := newD(t, nc, "EVENTS", "audit.{stream}")
	errs := outcomes(t, dispatch(t, d, batchOf("b1", 0, 2)), 2)
	for _, err := range errs {
		require.True(t, dispatcher.IsPermanent(err), "%v", err)
		var api *jetstream.APIError
		require.ErrorAs(t, err, &api)
		require.Equal(t, jsStreamNotMatch, api.ErrorCode)
	}
	require.Empty(t, storedMsgs(t, js, "AUDIT"))
}

// One event over the stream's MaxMsgSize is dead-lettered alone; the
// others of its batch are delivered.
func TestStreamMaxMsgSizeIsPermanentForThatEvent(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}, MaxMsgSize: 512})
	d := newD(t, nc, "EVENTS", "events.{stream}")
	b := batchOf("b1", 0, 3)
	b.Events[1].Value.P = strings.Repeat("x", 1000)
	errs := outcomes(t, dispatch(t, d, b), 3)
	require.NoError(t, errs[0])
	require.True(t, dispatcher.IsPermanent(errs[1]), "%v", errs[1])
	require.ErrorIs(t, errs[1], jetstream.ErrStreamMessageExceedsMaximum)
	require.NoError(t, errs[2])
	require.Len(t, storedMsgs(t, js, "EVENTS"), 2)
}

// An event over the server's max_payload is refused by the client before
// it is sent: permanent.
func TestServerMaxPayloadIsPermanent(t *testing.T) {
	s := startServer(t, func(o *server.Options) { o.MaxPayload = 4096 })
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "events.{stream}")
	b := batchOf("b1", 0, 2)
	b.Events[0].Value.P = strings.Repeat("x", 8000)
	errs := outcomes(t, dispatch(t, d, b), 2)
	require.True(t, dispatcher.IsPermanent(errs[0]), "%v", errs[0])
	require.NoError(t, errs[1])
}

// The dispatch context ends before the PubAcks come (the stream's server
// is gone): every event not acknowledged is retryable.
func TestContextEndIsRetryable(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "events.{stream}")
	s.Shutdown()
	s.WaitForShutdown()
	ctx, cancel := contextWithTimeout(200 * time.Millisecond)
	defer cancel()
	errs := outcomes(t, d.Dispatch(ctx, batchOf("b1", 0, 3)), 3)
	for _, err := range errs {
		require.Error(t, err)
		require.False(t, dispatcher.IsPermanent(err), "%v", err)
	}
}

// A batch larger than WithMaxPending waits for earlier PubAcks and is
// delivered whole, once; so are batches dispatched concurrently.
func TestBatchLargerThanMaxPending(t *testing.T) {
	s := startServer(t)
	nc, js := connect(t, s)
	createStream(t, js, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})
	d := newD(t, nc, "EVENTS", "events.{stream}", WithMaxPending(8))
	errc := make(chan error, 3)
	for g := range 3 {
		go func() { errc <- dispatch(t, d, batchOf(fmt.Sprintf("b%d", g), 0, 100)) }()
	}
	for range 3 {
		require.NoError(t, <-errc)
	}
	require.Len(t, storedMsgs(t, js, "EVENTS"), 300)
	require.Equal(t, Stats{Acked: 300}, d.Stats())
}
