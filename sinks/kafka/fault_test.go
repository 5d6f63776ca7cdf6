package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/walbatch/walbatch/dispatcher"
)

// Faults are injected with kfake.Fault on produce requests. kfake answers a
// fault for a whole partition of a request (it has no per-record produce
// errors, see its skipped_features), so the finest outcome shown here is
// per partition: the records of the faulted partition fail together, those
// of the other partitions of the same batch succeed.

// keyedBatch is a batch of n events, each keyed by its value's K, and
// the partition (of partitions) each key hashes to with the sticky key
// partitioner that keyedClient uses.
func keyedBatch(n, partitions int) (*dispatcher.Batch[tev], []int32) {
	b := testBatch("b1", "", n)
	part := kgo.StickyKeyPartitioner(nil).ForTopic(testTopic)
	where := make([]int32, n)
	for i := range b.Events {
		where[i] = int32(part.Partition(&kgo.Record{Key: []byte(b.Events[i].Value.K)}, partitions))
	}
	return b, where
}

func keyedSink(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *Sink[tev] {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// a NOT_LEADER answer refreshes metadata, at most this often
		// (default 5s: most of a test's time)
		kgo.MetadataMinAge(10 * time.Millisecond),
	}, opts...)
	s, err := New[tev](testTopic, WithClient(newClient(t, c, opts...)),
		WithKey(func(ev dispatcher.Event[tev]) []byte { return []byte(ev.Value.K) }))
	require.NoError(t, err)
	return s
}

// TestFaultMessageTooLarge: the broker answers MESSAGE_TOO_LARGE for
// partition 0: its events are permanent with that reason, the events of
// partition 1 are delivered.
func TestFaultMessageTooLarge(t *testing.T) {
	c := newCluster(t, 2)
	s := keyedSink(t, c)
	b, where := keyedBatch(20, 2)
	require.Contains(t, where, int32(0))
	require.Contains(t, where, int32(1))
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: testTopic, Partitions: []int32{0}, Err: kerr.MessageTooLarge, Count: -1})
	defer f.Remove()

	errs := outcomes(t, s.Dispatch(context.Background(), b), len(b.Events))
	delivered := 0
	for i, err := range errs {
		if where[i] == 1 {
			require.NoError(t, err, "event %d on partition 1", i)
			delivered++
			continue
		}
		require.True(t, dispatcher.IsPermanent(err), "event %d on partition 0: %v", i, err)
		require.ErrorIs(t, err, kerr.MessageTooLarge)
		require.ErrorContains(t, err, "topic events partition 0")
	}
	parts := consumeAll(t, c, testTopic, 2)
	require.Empty(t, parts[0])
	require.Len(t, parts[1], delivered)
}

// TestFaultNotLeaderAbsorbed: a leader change the client can ride out
// (NOT_LEADER_FOR_PARTITION on a few produce requests) is retried inside
// kgo and the batch is delivered in one Dispatch.
func TestFaultNotLeaderAbsorbed(t *testing.T) {
	c := newCluster(t, 2)
	s := keyedSink(t, c)
	b, _ := keyedBatch(10, 2)
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: testTopic, Err: kerr.NotLeaderForPartition, Count: 3})
	defer f.Remove()
	require.NoError(t, s.Dispatch(context.Background(), b))
	require.Equal(t, 3, f.Hits())
	total := 0
	for _, recs := range consumeAll(t, c, testTopic, 2) {
		total += len(recs)
	}
	require.Equal(t, 10, total, "each record once: the idempotent producer's retries are not duplicated")
}

// TestFaultNotLeaderGivenUp: when the client gives up on a partition that
// keeps answering NOT_LEADER_FOR_PARTITION (its RecordRetries spent), those
// events are retryable, not dead; the other partition's are delivered, and
// once the fault is gone a second Dispatch of the failed events delivers
// them.
func TestFaultNotLeaderGivenUp(t *testing.T) {
	c := newCluster(t, 2)
	s := keyedSink(t, c, kgo.RecordRetries(2), kgo.RetryBackoffFn(func(int) time.Duration { return time.Millisecond }))
	b, where := keyedBatch(20, 2)
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: testTopic, Partitions: []int32{1}, Err: kerr.NotLeaderForPartition, Count: -1})

	errs := outcomes(t, s.Dispatch(context.Background(), b), len(b.Events))
	retry := &dispatcher.Batch[tev]{ID: b.ID, Stream: b.Stream, Attempt: 2}
	for i, err := range errs {
		if where[i] == 0 {
			require.NoError(t, err, "event %d on partition 0", i)
			continue
		}
		require.Error(t, err, "event %d on partition 1", i)
		require.False(t, dispatcher.IsPermanent(err), "event %d: %v", i, err)
		retry.Events = append(retry.Events, b.Events[i])
	}
	require.NotEmpty(t, retry.Events)
	f.Remove()
	require.NoError(t, s.Dispatch(context.Background(), retry))
	parts := consumeAll(t, c, testTopic, 2)
	require.Len(t, parts[1], len(retry.Events))
	for j, r := range parts[1] {
		id, _ := header(r, HeaderEventID)
		require.Equal(t, retry.Events[j].ID, id, "in order")
		batch, _ := header(r, HeaderBatchID)
		require.Equal(t, b.ID, batch)
	}
	require.Len(t, parts[0], len(b.Events)-len(retry.Events))
}

// TestContextEndsWithOneBrokerSlow: when ctx ends while one broker has not
// answered, the events the other broker acknowledged are reported
// delivered (not sent again: no duplicates for them) and only the
// unanswered ones retryable.
func TestContextEndsWithOneBrokerSlow(t *testing.T) {
	c := newCluster(t, 2, kfake.NumBrokers(2))
	s := keyedSink(t, c)
	b, where := keyedBatch(20, 2)
	require.Contains(t, where, int32(0))
	require.Contains(t, where, int32(1))
	// The leaders on two brokers: partition 1's is held back.
	fast := c.LeaderFor(testTopic, 0)
	slow := 1 - fast
	require.NoError(t, c.MoveTopicPartition(testTopic, 1, slow))
	require.Equal(t, slow, c.LeaderFor(testTopic, 1))
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if c.CurrentNode() == slow {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	errs := outcomes(t, s.Dispatch(ctx, b), len(b.Events))
	once.Do(func() { close(release) })
	delivered := 0
	for i, err := range errs {
		if where[i] == 0 {
			require.NoError(t, err, "event %d on partition 0, whose broker answered", i)
			delivered++
			continue
		}
		require.ErrorIs(t, err, context.DeadlineExceeded, "event %d on partition 1", i)
		require.False(t, dispatcher.IsPermanent(err))
	}
	require.Len(t, consumeAll(t, c, testTopic, 2)[0], delivered)
}
