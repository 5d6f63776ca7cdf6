package processor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// twoBatchesOnDisk leaves a WAL with events 1-4 in two in-flight batches
// (1-2 and 3-4), then lets damage change the first batch's record.
func twoBatchesOnDisk(t *testing.T, path string, damage func(b *wal.Batch) []byte) {
	t.Helper()
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	s, err := l.Stream(DefaultStream)
	require.NoError(t, err)
	for i := 1; i <= 4; i++ {
		payload, err := encode(tev{N: i})
		require.NoError(t, err)
		_, err = s.Append("", payload)
		require.NoError(t, err)
	}
	var first *wal.Batch
	for range 2 {
		res, err := s.Seal(wal.SealOptions{MaxEvents: 2})
		require.NoError(t, err)
		require.NotNil(t, res.Batch)
		if first == nil {
			first = res.Batch
		}
	}
	require.NoError(t, format.RewriteStream(s, func(tx *bolt.Tx, _ *format.State) error {
		rs, _ := format.RawStreamOf(tx, DefaultStream)
		return rs.Batches.Put(format.SeqKey(first.Seq), damage(first))
	}))
}

// A batch record that recovery at open reports as damaged (and leaves out
// of what it redispatches) must not stop dispatching: the other in-flight
// batch and new events still go out, as the report promises.
func TestUndecodableBatchRecordDoesNotStopDispatch(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	twoBatchesOnDisk(t, path, func(*wal.Batch) []byte { return []byte{0xc1} }) // never valid msgpack
	sink := newRecSink(nil)
	p := openP(t, path, sink, quiet(WithBatchSize(2))...)
	require.NotEmpty(t, p.Recovery().Problems)
	enqueueN(t, p, 5, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, []int{3, 4, 5}, sink.delivered())
}

// A batch record whose range is reversed (recovery reports it and leaves
// it out of the in-flight counters) must not be dispatched: it would go
// out as an empty batch, and completing it would take its count off
// counters that never held it.
func TestReversedBatchRangeIsNotDispatched(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	twoBatchesOnDisk(t, path, func(b *wal.Batch) []byte {
		bad := *b
		bad.First, bad.Last = b.Last, b.First
		v, err := format.EncodeBatch((*format.Batch)(&bad))
		require.NoError(t, err)
		return v
	})
	sink := newRecSink(nil)
	p := openP(t, path, sink, quiet(WithBatchSize(2))...)
	require.NotEmpty(t, p.Recovery().Problems)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Flush(ctx))
	for _, a := range sink.all() {
		require.NotEmpty(t, a.Ns, "an empty batch was dispatched: %s", a.BatchID)
	}
	st := p.Stats()
	require.GreaterOrEqual(t, st.InFlightBatches, int64(0))
	require.GreaterOrEqual(t, st.InFlightEvents, int64(0))
	require.Equal(t, []int{3, 4}, sink.delivered())
}
