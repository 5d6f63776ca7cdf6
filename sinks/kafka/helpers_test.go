package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/walbatch/walbatch/dispatcher"
)

// testTopic is the topic every test cluster is seeded with.
const testTopic = "events"

// tev is the tests' event.
type tev struct {
	K string `msgpack:"k" json:"k"`
	N int    `msgpack:"n" json:"n"`
}

// newCluster starts an in-process kfake cluster of one broker with
// testTopic in the given number of partitions, closed at cleanup.
func newCluster(t testing.TB, partitions int32, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, testTopic)}, opts...)
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// newClient is a client of c, closed at cleanup.
func newClient(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// consumeAll reads every record of topic in c, from the start of each of
// its partitions to the end offset it has now, by partition and in offset
// order.
func consumeAll(t testing.TB, c *kfake.Cluster, topic string, partitions int32) map[int32][]*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends := endOffsets(ctx, t, newClient(t, c), topic, partitions)
	starts := map[int32]kgo.Offset{}
	want := 0
	for p, end := range ends {
		starts[p] = kgo.NewOffset().AtStart()
		want += int(end)
	}
	out := map[int32][]*kgo.Record{}
	if want == 0 {
		return out
	}
	cl := newClient(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}))
	for got := 0; got < want; {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "consumed %d of %d records", got, want)
		fs.EachError(func(_ string, _ int32, err error) { require.NoError(t, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				out[r.Partition] = append(out[r.Partition], r)
				got++
			}
		})
	}
	return out
}

// endOffsets asks for the end offset (high watermark) of each partition.
func endOffsets(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, partitions int32) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	ends := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			require.NoError(t, kerr.ErrorForCode(rp.ErrorCode), "partition %d", rp.Partition)
			ends[rp.Partition] = rp.Offset
		}
	}
	require.Len(t, ends, int(partitions))
	return ends
}

// header returns the value of r's header named k ("" when absent) and how
// many headers of that name r has.
func header(r *kgo.Record, k string) (string, int) {
	v, n := "", 0
	for _, h := range r.Headers {
		if h.Key == k {
			v, n = string(h.Value), n+1
		}
	}
	return v, n
}

// testBatch is a batch of n events with IDs "e0".."e<n-1>", key K "k<i>",
// payload "p<i>".
func testBatch(id, key string, n int) *dispatcher.Batch[tev] {
	b := &dispatcher.Batch[tev]{ID: id, Stream: "s", Attempt: 1}
	for i := range n {
		b.Events = append(b.Events, dispatcher.Event[tev]{
			ID: fmt.Sprintf("e%d", i), Seq: uint64(i + 1), EnqueuedAt: time.Now(), Key: key,
			Value: tev{K: fmt.Sprintf("k%d", i), N: i}, Payload: []byte(fmt.Sprintf("p%d", i)),
		})
	}
	return b
}

// outcomes is the per-event reading of Dispatch's result for n events: all
// nil when it returned nil.
func outcomes(t testing.TB, err error, n int) []error {
	t.Helper()
	if err == nil {
		return make([]error, n)
	}
	errs, ok := dispatcher.EventOutcomes(err, n)
	require.True(t, ok, "not per-event outcomes: %v", err)
	return errs
}
