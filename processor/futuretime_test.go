package processor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/format/formattest"
)

// futureDate moves the enqueue time of every event of the default stream
// ahead by d, as a file written while the clock was ahead holds them (the
// records are re-sealed, the stream's oldest time moved with them), and
// every in-flight batch's next attempt to at, when at is not zero.
func futureDate(t *testing.T, path string, d time.Duration, at int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(format.BucketStreams).Bucket([]byte(DefaultStream))
		var uid [8]byte
		copy(uid[:], sb.Get(format.KeyUID))
		fs, err := formattest.Open(tx, DefaultStream)
		if err != nil {
			return err
		}
		if err := fs.Rewrite(func(r *format.Record) { r.Time = r.Time.Add(d) }); err != nil {
			return err
		}
		type kv struct{ k, v []byte }
		var out []kv
		rs, _ := format.RawStreamOf(tx, DefaultStream)
		st, err := format.DecodeState(rs.Version, rs.State)
		if err != nil {
			return err
		}
		if st.OldestNanos != 0 {
			st.OldestNanos += int64(d)
		}
		if err := rs.PutState(st); err != nil {
			return err
		}
		if at == 0 {
			return nil
		}
		batches := sb.Bucket(format.BucketBatches)
		out = out[:0]
		err = batches.ForEach(func(k, v []byte) error {
			seq, _ := format.ParseSeqKey(k)
			b, err := format.DecodeBatch(uid, seq, v)
			if err != nil {
				return err
			}
			b.NextAttempt = at
			nv, err := format.EncodeBatch(b)
			out = append(out, kv{append([]byte(nil), k...), nv})
			return err
		})
		if err != nil {
			return err
		}
		for _, e := range out {
			if err := batches.Put(e.k, e.v); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Events whose enqueue time is a year ahead of the clock (a file written
// while the clock was off) waited a year for the max-age flush when
// nothing else cut a batch, and showed a negative oldest age: they count
// as enqueued when the processor first sees them, so max age applies
// from then, and their age is never negative.
func TestFutureEnqueueTimesDoNotHoldBackMaxAge(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	p := openP(t, path, newRecSink(nil), quiet(WithStartOnOpen(false))...)
	enqueueN(t, p, 0, 3)
	require.EqualValues(t, 3, requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream)).PendingEvents, "never started")
	futureDate(t, path, 365*24*time.Hour, 0)

	sink := newRecSink(nil)
	p = openP(t, path, sink, quiet(WithMaxAge(100*time.Millisecond))...)
	require.GreaterOrEqual(t, p.Stats().OldestPendingAge, time.Duration(0), "oldest age")
	require.Eventually(t, func() bool { return len(sink.delivered()) == 3 }, time.Minute, 10*time.Millisecond,
		"the max-age flush did not cut the future-dated events")
	require.Equal(t, []int{0, 1, 2}, sink.delivered())
}

// A retry time past what the processor schedules now (a year), written by
// a version without that clamp, is brought within it at load.
func TestFarRetryTimesAreClampedAtLoad(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	sink := newRecSink(func(context.Context, attempt) error { return errDown })
	p := openP(t, path, sink, quiet(WithBatchSize(1), WithStopTimeout(50*time.Millisecond))...)
	enqueueN(t, p, 0, 1)
	require.Eventually(t, func() bool { return sink.count() >= 1 }, time.Minute, time.Millisecond)
	require.EqualValues(t, 1, requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream)).InFlightEvents, "the failing batch")
	far := time.Now().Add(200 * 365 * 24 * time.Hour).UnixNano()
	futureDate(t, path, 0, far)

	p = openP(t, path, newRecSink(nil), quiet(WithBatchSize(1), WithStartOnOpen(false))...)
	loaded := &loop[tev]{p: p, batches: map[uint64]*inflight{}}
	require.NoError(t, loaded.loadInFlight())
	require.Len(t, loaded.batches, 1)
	for _, ib := range loaded.batches {
		require.LessOrEqual(t, ib.b.NextAttempt, time.Now().Add(maxDelay).UnixNano(), "next attempt %s", time.Unix(0, ib.b.NextAttempt))
		require.Greater(t, ib.b.NextAttempt, time.Now().UnixNano(), "still a future attempt")
	}
}
