package processor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/wal"
)

// These tests answer per-event results as a hostile or careless sink
// would, and check the file, the counters and the notifications after
// each (see also perevent_test.go).

// mustVerifyFile fails the test unless recovery.Verify finds the file
// clean (counters, batch ranges and counts, dead letters).
func mustVerifyFile(t *testing.T, path string) {
	t.Helper()
	rep, err := recovery.Verify(path, nil)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep)
}

// deadReasons returns the dead letters of the default stream as "N:reason"
// (N from the payload, or the seq for a record that does not decode), in
// seq order, and checks each carries batchID.
func deadReasons(t *testing.T, path, batchID string) []string {
	t.Helper()
	var out []string
	inspect(t, path, func(ws *wal.Stream) {
		for _, d := range deadLetters(t, ws) {
			if batchID != "" {
				require.Equal(t, batchID, d.BatchID)
			}
			label := fmt.Sprintf("seq%d", d.Record.Seq)
			if v, err := decode[tev](d.Record.Payload); d.Err == nil && err == nil && !strings.HasPrefix(d.Reason, "undecodable") {
				label = fmt.Sprint(v.N)
			}
			reason := d.Reason
			if i := strings.Index(reason, ": "); i > 0 && (strings.HasPrefix(reason, "undecodable") || strings.HasPrefix(reason, "corrupt")) {
				reason = reason[:i]
			}
			out = append(out, fmt.Sprintf("%s:%s@%d", label, reason, d.Attempts))
		}
	})
	return out
}

// The indexes of a per-event result are those of the events the
// dispatcher was given: after a corrupt record was quarantined and an
// undecodable one dead-lettered from the same batch, outcome i is the
// i-th event the dispatcher saw, not the i-th of the batch as sealed.
func TestPerEventIndexesAfterQuarantineAndUndecodable(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	// N 1..6 as seqs 1..6; seq 2 does not decode into tev, seq 4 fails its
	// checksum; all six sealed into one batch left in flight.
	var payloads [][]byte
	for i := 1; i <= 6; i++ {
		p, err := encode(tev{N: i})
		require.NoError(t, err)
		if i == 2 {
			p = []byte{0xc1}
		}
		payloads = append(payloads, p)
	}
	appendPayloads(t, path, payloads)
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream(DefaultStream)
	require.NoError(t, err)
	res, err := s.Seal(wal.SealOptions{MaxEvents: 6, Force: true})
	require.NoError(t, err)
	batchID := res.Batch.ID
	require.NoError(t, format.RewriteStream(s, func(tx *bolt.Tx, _ *format.State) error {
		rs, _ := format.RawStreamOf(tx, DefaultStream)
		v := append([]byte(nil), rs.Events.Get(format.SeqKey(4))...)
		v[len(v)-6] ^= 0xff // in the payload: the checksum no longer matches
		return rs.Events.Put(format.SeqKey(4), v)
	}))
	require.NoError(t, l.Close())

	sink := newRecSink(func(_ context.Context, a attempt) error {
		if a.Attempt > 1 {
			return nil
		}
		// Given N 1, 3, 5, 6: 3 refused for good, 5 to retry.
		return dispatcher.PerEvent([]error{nil, dispatcher.Permanent(errors.New("p3")), errors.New("r5"), nil})
	})
	var ns notes
	opts := append(ns.listeners(BatchDispatched, RetryScheduled, DeadLettered), WithRetryDelay(time.Millisecond, time.Millisecond))
	p := openP(t, path, sink, quiet(opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Flush(ctx))
	require.NoError(t, p.Stop(ctx))

	at := sink.all()
	require.Len(t, at, 2)
	require.Equal(t, []int{1, 3, 5, 6}, at[0].Ns)
	require.Equal(t, []int{5}, at[1].Ns)
	require.Equal(t, batchID, at[1].BatchID)
	require.ElementsMatch(t, []int{1, 6, 5}, sink.delivered())
	require.Equal(t, []string{"seq2:undecodable@0", "3:permanent: p3@1", "seq4:corrupt@0"}, deadReasons(t, path, batchID))
	st := p.Stats()
	require.EqualValues(t, 3, st.Delivered)
	require.EqualValues(t, 3, st.DeadLettered, "the quarantined record counted too")
	require.EqualValues(t, 3, st.DeadLetteredSinceOpen)
	dl := ns.of(DeadLettered)
	require.Len(t, dl, 3, "one each: quarantined, undecodable, permanent")
	for _, n := range dl {
		require.Equal(t, 1, n.Count)
		require.Equal(t, batchID, n.BatchID)
	}
	require.ErrorIs(t, dl[0].Err, wal.ErrRecord)
	require.ErrorIs(t, dl[1].Err, ErrUndecodable)
	require.EqualValues(t, len(payloads[3]), dl[0].Bytes)
	require.EqualValues(t, 1, st.Retried)
	require.Zero(t, st.InFlightEvents+st.PendingEvents)
	mustVerifyFile(t, path)
}

// A per-event result wrapped by fmt.Errorf, joined with other errors or
// inside a Partial is read per event all the same.
func TestPerEventWrappedResults(t *testing.T) {
	per := func() error {
		return dispatcher.PerEvent([]error{nil, dispatcher.Permanent(errors.New("p")), nil})
	}
	for name, wrap := range map[string]func(error) error{
		"fmt.Errorf":                 func(e error) error { return fmt.Errorf("sink: %w", e) },
		"errors.Join":                func(e error) error { return errors.Join(errors.New("other"), e) },
		"errors.Join with permanent": func(e error) error { return errors.Join(dispatcher.Permanent(errors.New("all")), e) },
		"Partial of fmt.Errorf":      func(e error) error { return dispatcher.Partial(1, fmt.Errorf("x: %w", e)) },
		"Retryable":                  func(e error) error { return dispatcher.Retryable(e, time.Hour) },
	} {
		t.Run(name, func(t *testing.T) {
			noLeaks(t)
			sink := newRecSink(func(context.Context, attempt) error { return wrap(per()) })
			path := walPath(t)
			p := openP(t, path, sink, quiet(WithBatchSize(3))...)
			var ns notes
			ns.subscribe(p, BatchDispatched, RetryScheduled, DeadLettered)
			enqueueN(t, p, 0, 3)
			require.NoError(t, p.Flush(context.Background()))
			require.NoError(t, p.Stop(context.Background()))
			require.Equal(t, 1, sink.count())
			st := p.Stats()
			require.EqualValues(t, 2, st.Delivered)
			require.EqualValues(t, 1, st.DeadLettered)
			require.Zero(t, st.Retried)
			require.Equal(t, []string{"1:permanent: p@1"}, deadReasons(t, path, sink.all()[0].BatchID))
			d := ns.of(BatchDispatched)
			require.Len(t, d, 1)
			require.Equal(t, 2, d[0].Delivered)
			require.Equal(t, OutcomePerEvent, d[0].Outcome())
			require.Empty(t, ns.of(RetryScheduled))
			require.Len(t, ns.of(DeadLettered), 1)
			mustVerifyFile(t, path)
		})
	}
}

// Every event refused for good: the batch goes to dead letters event by
// event with each reason; nothing is completed or retried, and a reopen
// has nothing to send.
func TestPerEventAllPermanent(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(func(_ context.Context, a attempt) error {
		errs := make([]error, len(a.Ns))
		for i, n := range a.Ns {
			errs[i] = dispatcher.Permanent(fmt.Errorf("no %d", n%2))
		}
		return dispatcher.PerEvent(errs)
	})
	path := walPath(t)
	p := openP(t, path, sink, quiet(WithBatchSize(4))...)
	var ns notes
	ns.subscribe(p, BatchDispatched, RetryScheduled, DeadLettered)
	enqueueN(t, p, 0, 4)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	st := p.Stats()
	require.Zero(t, st.Delivered)
	require.EqualValues(t, 4, st.DeadLettered)
	require.Zero(t, st.Retried)
	require.Zero(t, st.DeliveredTotal)
	require.Zero(t, st.InFlightBatches+st.InFlightEvents)
	require.EqualValues(t, 4, st.DeadEvents)
	d := ns.of(BatchDispatched)
	require.Len(t, d, 1)
	require.Zero(t, d[0].Delivered)
	require.Equal(t, OutcomePerEvent, d[0].Outcome())
	require.Empty(t, ns.of(RetryScheduled))
	dl := ns.of(DeadLettered)
	require.Len(t, dl, 2)
	require.Equal(t, 4, dl[0].Count+dl[1].Count)
	id := sink.all()[0].BatchID
	require.Equal(t, []string{"0:permanent: no 0@1", "1:permanent: no 1@1", "2:permanent: no 0@1", "3:permanent: no 1@1"}, deadReasons(t, path, id))
	inspect(t, path, func(ws *wal.Stream) {
		var done []wal.Completion
		require.NoError(t, ws.ForEachCompletion(func(c wal.Completion) error { done = append(done, c); return nil }))
		require.Empty(t, done, "a batch that ended in dead letters is no completion")
	})
	mustVerifyFile(t, path)

	again := newRecSink(nil)
	p = openP(t, path, again, quiet()...)
	require.Zero(t, p.Recovery().InFlightBatches)
	require.NoError(t, p.Stop(context.Background()))
	require.Zero(t, again.count())
}

// A batch whose events left after a first per-event result are all
// refused on the second attempt is removed: those dead letters carry the
// batch's ID and attempt 2; the counts add up.
func TestPerEventRemainingAllDead(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(func(_ context.Context, a attempt) error {
		if a.Attempt == 1 {
			return dispatcher.PerEvent([]error{nil, errors.New("busy"), errors.New("busy"), nil})
		}
		return dispatcher.PerEvent([]error{dispatcher.Permanent(errors.New("no")), dispatcher.Permanent(errors.New("no"))})
	})
	path := walPath(t)
	p := openP(t, path, sink, quiet(WithBatchSize(4), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	var ns notes
	ns.subscribe(p, BatchDispatched, RetryScheduled, DeadLettered)
	enqueueN(t, p, 0, 4)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	at := sink.all()
	require.Len(t, at, 2)
	require.Equal(t, []int{1, 2}, at[1].Ns)
	require.Equal(t, 2, at[1].Attempt)
	st := p.Stats()
	require.EqualValues(t, 2, st.Delivered)
	require.EqualValues(t, 2, st.DeliveredTotal)
	require.EqualValues(t, 2, st.DeadLettered)
	require.EqualValues(t, 1, st.Retried)
	require.Zero(t, st.InFlightBatches+st.InFlightEvents)
	require.Len(t, ns.of(BatchDispatched), 2)
	require.Len(t, ns.of(RetryScheduled), 1)
	require.Equal(t, 2, ns.of(RetryScheduled)[0].Count)
	dl := ns.of(DeadLettered)
	require.Len(t, dl, 1)
	require.Equal(t, 2, dl[0].Count)
	require.Equal(t, 2, dl[0].Attempt)
	require.Equal(t, []string{"1:permanent: no@2", "2:permanent: no@2"}, deadReasons(t, path, at[0].BatchID))
	mustVerifyFile(t, path)
}

// A batch with holes that the sink then accepts whole is a completion of
// everything delivered (not of the dead), with its attempts.
func TestPerEventHolesThenComplete(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(func(_ context.Context, a attempt) error {
		if a.Attempt == 1 {
			return dispatcher.PerEvent([]error{nil, dispatcher.Permanent(errors.New("no")), errors.New("busy"), errors.New("busy")})
		}
		return nil
	})
	path := walPath(t)
	p, err := Open[tev](path, sink, quiet(WithBatchSize(4), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	require.NoError(t, err)
	enqueueN(t, p, 0, 4)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	at := sink.all()
	require.Len(t, at, 2)
	require.Equal(t, []int{2, 3}, at[1].Ns)
	st := p.Stats()
	require.EqualValues(t, 3, st.Delivered)
	require.EqualValues(t, 3, st.DeliveredTotal)
	require.EqualValues(t, 1, st.DeadLettered)
	inspect(t, path, func(ws *wal.Stream) {
		var done []wal.Completion
		require.NoError(t, ws.ForEachCompletion(func(c wal.Completion) error { done = append(done, c); return nil }))
		require.Len(t, done, 1)
		require.Equal(t, 3, done[0].Count)
		require.Equal(t, 2, done[0].Attempts)
	})
	mustVerifyFile(t, path)
}

// A Partial after a per-event result counts from the events the second
// attempt was given (the holes skipped).
func TestPerEventHolesThenPartial(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(func(_ context.Context, a attempt) error {
		switch a.Attempt {
		case 1:
			return dispatcher.PerEvent([]error{errors.New("busy"), nil, errors.New("busy"), errors.New("busy")})
		case 2:
			return dispatcher.Partial(1, errors.New("busy"))
		}
		return nil
	})
	path := walPath(t)
	p := openP(t, path, sink, quiet(WithBatchSize(4), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	enqueueN(t, p, 0, 4)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	at := sink.all()
	require.Len(t, at, 3)
	require.Equal(t, []int{0, 2, 3}, at[1].Ns)
	require.Equal(t, []int{2, 3}, at[2].Ns)
	require.Equal(t, 3, at[2].Attempt)
	require.Equal(t, at[0].BatchID, at[2].BatchID)
	require.ElementsMatch(t, seqN(0, 4), sink.delivered())
	st := p.Stats()
	require.EqualValues(t, 4, st.Delivered)
	require.EqualValues(t, 4, st.DeliveredTotal)
	require.EqualValues(t, 2, st.Retried)
	mustVerifyFile(t, path)
}

// The retry budget runs out across a reopen: the events left in a batch
// with holes are dead-lettered at the attempt that spends it, counted
// from the file, under the batch's ID.
func TestPerEventBudgetSpentAfterReopen(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	first := newRecSink(func(context.Context, attempt) error {
		return dispatcher.PerEvent([]error{nil, errors.New("busy"), dispatcher.Permanent(errors.New("no")), errors.New("busy")})
	})
	p := openP(t, path, first, quiet(WithBatchSize(4), WithMaxRetries(1), WithRetryDelay(time.Hour, time.Hour), WithJitter(0),
		WithStopTimeout(10*time.Millisecond))...)
	enqueueN(t, p, 0, 4)
	require.Eventually(t, func() bool { return p.Stats().Retried == 1 }, 15*time.Second, time.Millisecond)
	u := requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream))
	require.EqualValues(t, 2, u.InFlightEvents, "the two busy events; not the delivered one, not the dead letter")
	require.Zero(t, u.PendingEvents)
	mustVerifyFile(t, path)

	second := newRecSink(func(context.Context, attempt) error {
		return dispatcher.PerEvent([]error{errors.New("still busy"), nil})
	})
	// The retry time is kept across the reopen: Flush would wait an hour.
	// Move it to now with the WAL alone.
	inspect(t, path, func(ws *wal.Stream) {
		bs, err := ws.Batches()
		require.NoError(t, err)
		require.Len(t, bs, 1)
		require.Equal(t, 1, bs[0].Attempts)
		require.Equal(t, 2, bs[0].Count)
		_, err = ws.Resolve(bs[0].Seq, nil, nil, time.Now(), bs[0].LastError) // counts an attempt: 2
		require.NoError(t, err)
	})
	p = openP(t, path, second, quiet(WithMaxRetries(2), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	at := second.all()
	require.Len(t, at, 1)
	require.Equal(t, []int{1, 3}, at[0].Ns)
	require.Equal(t, 3, at[0].Attempt)
	require.Equal(t, first.all()[0].BatchID, at[0].BatchID)
	st := p.Stats()
	require.EqualValues(t, 1, st.Delivered)
	require.EqualValues(t, 2, st.DeliveredTotal)
	require.EqualValues(t, 1, st.DeadLettered)
	require.Equal(t, []string{"1:gave up after 3 attempts: still busy@3", "2:permanent: no@1"}, deadReasons(t, path, at[0].BatchID))
	mustVerifyFile(t, path)
}

// Stop's deadline cutting short a dispatch that then answers per event
// records nothing of that answer (as for any canceled attempt): the batch
// stays in flight whole, its attempt not counted, and the next open sends
// every event of it again under the same ID (at least once).
func TestPerEventCutShortByStop(t *testing.T) {
	noLeaks(t)
	started := make(chan struct{})
	first := newRecSink(func(ctx context.Context, a attempt) error {
		close(started)
		<-ctx.Done()
		return dispatcher.PerEvent([]error{nil, dispatcher.Permanent(errors.New("no")), ctx.Err()})
	})
	path := walPath(t)
	p := openP(t, path, first, quiet(WithBatchSize(3), WithStopTimeout(20*time.Millisecond))...)
	var ns notes
	ns.subscribe(p, BatchDispatched, RetryScheduled, DeadLettered)
	enqueueN(t, p, 0, 3)
	<-started
	u := requireLeft(t, p.Stop(context.Background()), leftIn(t, path, DefaultStream))
	require.Equal(t, Left{InFlightEvents: 3, InFlightBytes: u.InFlightBytes}, u.Left, "the batch, whole")
	st := p.Stats()
	require.Zero(t, st.Delivered+st.DeadLettered+st.Retried)
	require.EqualValues(t, 3, st.InFlightEvents)
	require.Empty(t, ns.of(BatchDispatched))
	mustVerifyFile(t, path)

	second := newRecSink(nil)
	p = openP(t, path, second, quiet()...)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	at := second.all()
	require.Len(t, at, 1)
	require.Equal(t, seqN(0, 3), at[0].Ns)
	require.Equal(t, first.all()[0].BatchID, at[0].BatchID)
	require.Equal(t, 1, at[0].Attempt)
	mustVerifyFile(t, path)
}
