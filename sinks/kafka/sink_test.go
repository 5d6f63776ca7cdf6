package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/walbatch/walbatch/dispatcher"
)

// TestProduceConsume dispatches batches and reads the topic back: one
// record per event with its key, value and headers, in the batch's order
// within each partition.
func TestProduceConsume(t *testing.T) {
	c := newCluster(t, 3)
	s, err := New[tev](testTopic, WithClient(newClient(t, c)))
	require.NoError(t, err)

	keyed := testBatch("b-keyed", "tenant-7", 20)
	keyed.Events[3].Headers = map[string]string{"traceparent": "00-abc-def-01", "zone": "eu", HeaderEventID: "spoofed"}
	require.NoError(t, s.Dispatch(context.Background(), keyed))
	unkeyed := testBatch("b-unkeyed", "", 30)
	for i := range unkeyed.Events {
		unkeyed.Events[i].ID = fmt.Sprintf("u%d", i)
	}
	require.NoError(t, s.Dispatch(context.Background(), unkeyed))

	parts := consumeAll(t, c, testTopic, 3)
	byID := map[string]*kgo.Record{}
	total := 0
	for p, recs := range parts {
		last := map[string]int{} // batch ID -> last event index seen in this partition
		for _, r := range recs {
			total++
			id, n := header(r, HeaderEventID)
			require.Equal(t, 1, n, "one %s header", HeaderEventID)
			batch, n := header(r, HeaderBatchID)
			require.Equal(t, 1, n)
			byID[id] = r
			var i int
			_, err := fmt.Sscanf(id[1:], "%d", &i)
			require.NoError(t, err)
			if prev, ok := last[batch]; ok {
				require.Greater(t, i, prev, "partition %d: %s after event %d of %s", p, id, prev, batch)
			}
			last[batch] = i
		}
	}
	require.Equal(t, 50, total)
	require.Len(t, byID, 50)

	for i, ev := range keyed.Events {
		r := byID[ev.ID]
		require.NotNil(t, r, ev.ID)
		require.Equal(t, "tenant-7", string(r.Key), "the batch key is the default key")
		require.Equal(t, string(ev.Payload), string(r.Value))
		batch, _ := header(r, HeaderBatchID)
		require.Equal(t, "b-keyed", batch)
		if i == 3 {
			require.Equal(t, []kgo.RecordHeader{
				{Key: HeaderEventID, Value: []byte("e3")},
				{Key: HeaderBatchID, Value: []byte("b-keyed")},
				{Key: "traceparent", Value: []byte("00-abc-def-01")},
				{Key: "zone", Value: []byte("eu")},
			}, r.Headers, "walbatch's headers first, the event's sorted, a spoofed ID dropped")
		} else {
			require.Len(t, r.Headers, 2)
		}
	}
	keyedPart := byID["e0"].Partition
	for _, ev := range keyed.Events {
		require.Equal(t, keyedPart, byID[ev.ID].Partition, "one key, one partition")
	}
	for _, ev := range unkeyed.Events {
		require.Nil(t, byID[ev.ID].Key, "no batch key, no record key")
	}
}

// TestUserFunctions: WithTopicFunc, WithKey and WithValue shape each
// record; an event without a topic, or whose value fails, is permanent on
// its own while the rest of the batch is produced.
func TestUserFunctions(t *testing.T) {
	c := newCluster(t, 2, kfake.SeedTopics(1, "other"))
	s, err := New[tev]("", WithClient(newClient(t, c)),
		WithTopicFunc(func(ev dispatcher.Event[tev]) string {
			switch ev.Value.N % 3 {
			case 0:
				return testTopic
			case 1:
				return "other"
			}
			return "" // no topic
		}),
		WithKey(func(ev dispatcher.Event[tev]) []byte { return []byte(ev.Value.K) }),
		WithValue(func(ev dispatcher.Event[tev]) ([]byte, error) {
			if ev.Value.N == 3 {
				return nil, errors.New("cannot encode 3")
			}
			return []byte(strings.ToUpper(ev.Value.K)), nil
		}))
	require.NoError(t, err)
	b := testBatch("b1", "batchkey", 7) // N 0..6
	errs := outcomes(t, s.Dispatch(context.Background(), b), 7)
	for i, err := range errs {
		switch {
		case i == 3:
			require.True(t, dispatcher.IsPermanent(err), "%d: %v", i, err)
			require.ErrorContains(t, err, "cannot encode 3")
		case i%3 == 2:
			require.True(t, dispatcher.IsPermanent(err), "%d: %v", i, err)
			require.ErrorIs(t, err, ErrNoTopic)
		default:
			require.NoError(t, err, i)
		}
	}
	got := map[string]string{}
	for _, topic := range []string{testTopic, "other"} {
		n := int32(2)
		if topic == "other" {
			n = 1
		}
		for _, recs := range consumeAll(t, c, topic, n) {
			for _, r := range recs {
				got[string(r.Key)] = topic + "=" + string(r.Value)
			}
		}
	}
	require.Equal(t, map[string]string{"k0": "events=K0", "k1": "other=K1", "k4": "other=K4", "k6": "events=K6"}, got)
}

// TestRecordTooLargeForTheClient: kgo fails a record larger than the
// client's ProducerBatchMaxBytes alone, before sending, with
// MESSAGE_TOO_LARGE: that event is permanent and its neighbours, in the
// same partition, are delivered. This is the one per-record failure inside
// a partition that can be shown against kfake (which fails whole batches).
func TestRecordTooLargeForTheClient(t *testing.T) {
	c := newCluster(t, 1)
	s, err := New[tev](testTopic, WithClient(newClient(t, c, kgo.ProducerBatchMaxBytes(1024))))
	require.NoError(t, err)
	b := testBatch("b1", "", 5)
	b.Events[2].Payload = make([]byte, 4096)
	errs := outcomes(t, s.Dispatch(context.Background(), b), 5)
	for i, err := range errs {
		if i != 2 {
			require.NoError(t, err, i)
			continue
		}
		require.True(t, dispatcher.IsPermanent(err), "%v", err)
		require.ErrorIs(t, err, kerr.MessageTooLarge)
		require.ErrorContains(t, err, "topic events")
	}
	require.Len(t, consumeAll(t, c, testTopic, 1)[0], 4)
}

// TestContextEnds: a Dispatch whose context ends before the log answers
// returns promptly with every unanswered event retryable.
func TestContextEnds(t *testing.T) {
	// Registered first, so it runs last: after the client and the cluster
	// closed, the goroutine still waiting on ProduceSync must be gone too.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := newCluster(t, 1)
	s, err := New[tev](testTopic, WithClient(newClient(t, c)))
	require.NoError(t, err)
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.SleepControl(func() { <-release }) // hold the produce until released
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	errs := outcomes(t, s.Dispatch(ctx, testBatch("b1", "", 3)), 3)
	close(release)
	for _, err := range errs {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.False(t, dispatcher.IsPermanent(err))
	}

	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	errs = outcomes(t, s.Dispatch(canceled, testBatch("b2", "", 2)), 2)
	for _, err := range errs {
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, dispatcher.IsPermanent(err))
	}
}

// TestBadCalls: a nil context or batch is a permanent ErrInvalidCall; an
// empty batch is delivered.
func TestBadCalls(t *testing.T) {
	c := newCluster(t, 1)
	s, err := New[tev](testTopic, WithClient(newClient(t, c)))
	require.NoError(t, err)
	//lint:ignore SA1012 a nil context is the point of the test
	err = s.Dispatch(nil, testBatch("b", "", 1))
	require.True(t, dispatcher.IsPermanent(err))
	require.ErrorIs(t, err, dispatcher.ErrInvalidCall)
	err = s.Dispatch(context.Background(), nil)
	require.ErrorIs(t, err, dispatcher.ErrInvalidCall)
	require.NoError(t, s.Dispatch(context.Background(), &dispatcher.Batch[tev]{ID: "empty"}))
	var zero Sink[tev]
	require.ErrorIs(t, zero.Dispatch(context.Background(), testBatch("b", "", 1)), dispatcher.ErrInvalidCall)
	var none *Sink[tev]
	require.ErrorIs(t, none.Dispatch(context.Background(), testBatch("b", "", 1)), dispatcher.ErrInvalidCall)
}

// TestNew checks option validation and client ownership.
func TestNew(t *testing.T) {
	c := newCluster(t, 1)
	cl := newClient(t, c)
	for name, tc := range map[string]struct {
		topic string
		opts  []Option
	}{
		"no client":            {testTopic, nil},
		"two clients":          {testTopic, []Option{WithClient(cl), WithClientOptions(kgo.SeedBrokers(c.ListenAddrs()...))}},
		"no topic":             {"", []Option{WithClient(cl)}},
		"topic func of T else": {"", []Option{WithClient(cl), WithTopicFunc(func(dispatcher.Event[string]) string { return "x" })}},
		"nil key func":         {testTopic, []Option{WithClient(cl), WithKey[tev](nil)}},
		"value func of T else": {testTopic, []Option{WithClient(cl), WithValue(func(dispatcher.Event[int]) ([]byte, error) { return nil, nil })}},
		"manual flushing":      {testTopic, []Option{WithClient(newClient(t, c, kgo.ManualFlushing()))}},
		"transactional":        {testTopic, []Option{WithClient(newClient(t, c, kgo.TransactionalID("tx")))}},
		"own, manual flushing": {testTopic, []Option{WithClientOptions(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ManualFlushing())}},
	} {
		_, err := New[tev](tc.topic, tc.opts...)
		require.ErrorIs(t, err, ErrInvalidOption, name)
	}

	// A client of the caller's is never closed by the sink.
	s, err := New[tev](testTopic, WithClient(cl), nil)
	require.NoError(t, err)
	s.Close()
	require.NoError(t, s.Dispatch(context.Background(), testBatch("b", "", 1)))

	// A client made from options is the sink's: Close closes it, and a
	// later Dispatch is retryable.
	own, err := New[tev](testTopic, WithClientOptions(kgo.SeedBrokers(c.ListenAddrs()...)))
	require.NoError(t, err)
	require.NoError(t, own.Dispatch(context.Background(), testBatch("b", "", 1)))
	own.Close()
	own.Close()
	errs := outcomes(t, own.Dispatch(context.Background(), testBatch("b", "", 1)), 1)
	require.ErrorIs(t, errs[0], kgo.ErrClientClosed)
	require.False(t, dispatcher.IsPermanent(errs[0]))
}
