package kafka

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/walbatch/walbatch/processor"
)

// openProcessor opens a processor over a new WAL in t's temp dir with s as
// its dispatcher and quick retries.
func openProcessor(t *testing.T, s *Sink[tev], opts ...processor.Option) *processor.Processor[tev] {
	t.Helper()
	opts = append([]processor.Option{
		processor.WithRetryDelay(10*time.Millisecond, 50*time.Millisecond), processor.WithMaxRetries(50),
		processor.WithEventHeaders(func(v tev) map[string]string { return map[string]string{"traceparent": "tp-" + v.K} }),
	}, opts...)
	p, err := processor.Open[tev](filepath.Join(t.TempDir(), "events.wal"), s, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p
}

func enqueueN(t *testing.T, p *processor.Processor[tev], n int) []tev {
	t.Helper()
	evs := make([]tev, n)
	for i := range evs {
		evs[i] = tev{K: fmt.Sprintf("k%d", i), N: i}
	}
	require.NoError(t, p.EnqueueMany(context.Background(), evs))
	return evs
}

// TestProcessorMessageTooLarge: through a processor, the events of the
// partition the broker answers MESSAGE_TOO_LARGE for are dead-lettered,
// each with that reason, and the others are in the topic with their event
// headers; nothing is retried.
func TestProcessorMessageTooLarge(t *testing.T) {
	c := newCluster(t, 2)
	s := keyedSink(t, c)
	_, where := keyedBatch(40, 2)
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: testTopic, Partitions: []int32{0}, Err: kerr.MessageTooLarge, Count: -1})
	defer f.Remove()
	var mu sync.Mutex
	retries := 0
	p := openProcessor(t, s, processor.WithListener(processor.RetryScheduled, func(processor.Notification) {
		mu.Lock()
		retries++
		mu.Unlock()
	}))
	enqueueN(t, p, 40)
	require.NoError(t, p.Flush(context.Background()))

	dead := map[string]string{} // K -> reason
	require.NoError(t, p.DeadLetters(func(dl processor.DeadLetter[tev]) error {
		dead[dl.Value.K] = dl.Reason
		require.Equal(t, "tp-"+dl.Value.K, dl.Headers["traceparent"])
		return nil
	}))
	parts := consumeAll(t, c, testTopic, 2)
	require.Empty(t, parts[0])
	for i, part := range where {
		k := fmt.Sprintf("k%d", i)
		if part == 0 {
			require.Contains(t, dead[k], "MESSAGE_TOO_LARGE", k)
			require.Contains(t, dead[k], "partition 0", k)
		} else {
			_, isDead := dead[k]
			require.False(t, isDead, "%s on partition 1 is dead", k)
		}
	}
	require.Len(t, parts[1], 40-len(dead))
	for _, r := range parts[1] {
		tp, _ := header(r, "traceparent")
		require.Equal(t, "tp-"+string(r.Key), tp)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Zero(t, retries, "a permanent outcome is not retried")
	require.EqualValues(t, len(dead), p.Stats().DeadEvents)
}

// TestProcessorNotLeaderRetried: a partition that keeps answering
// NOT_LEADER_FOR_PARTITION past the client's own retries makes its events
// retryable: the processor schedules a retry of just those, under the same
// batch ID, and once the leader is back they are delivered. No dead
// letters, each event once, in order.
func TestProcessorNotLeaderRetried(t *testing.T) {
	c := newCluster(t, 2)
	s := keyedSink(t, c, kgo.RecordRetries(1), kgo.RetryBackoffFn(func(int) time.Duration { return time.Millisecond }))
	_, where := keyedBatch(40, 2)
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: testTopic, Partitions: []int32{1}, Err: kerr.NotLeaderForPartition, Count: -1})
	retried := make(chan processor.Notification, 100)
	p := openProcessor(t, s, processor.WithBatchSize(40), // 40 events cut the batch at once
		processor.WithStopTimeout(time.Minute), // Stop waits for the retry to deliver
		processor.WithListener(processor.RetryScheduled, func(n processor.Notification) { retried <- n }))
	enqueueN(t, p, 40) // no Flush: it would wait for the batch, whose partition 1 fails until the fault goes
	var n processor.Notification
	select {
	case n = <-retried:
	case <-time.After(30 * time.Second):
		t.Fatal("no retry scheduled")
	}
	f.Remove()
	require.NoError(t, p.Stop(context.Background()))
	require.Zero(t, p.Stats().DeadEvents)

	want := map[int32][]string{}
	for i, part := range where {
		want[part] = append(want[part], fmt.Sprintf("k%d", i))
	}
	for part, recs := range consumeAll(t, c, testTopic, 2) {
		var got []string
		for _, r := range recs {
			got = append(got, string(r.Key))
			batch, _ := header(r, HeaderBatchID)
			require.Equal(t, n.BatchID, batch, "the retry keeps the batch ID")
		}
		require.Equal(t, want[part], got, "partition %d: each event once, in order", part)
	}
}
