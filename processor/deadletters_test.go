package processor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// refuseOdd refuses odd events for good, one outcome per batch of 1.
func refuseOdd(_ context.Context, a attempt) error {
	if a.Ns[0]%2 == 1 {
		return errBadEvent
	}
	return nil
}

// errBadEvent is a permanent refusal without a cause.
var errBadEvent = dispatcher.Permanent(nil)

func deadOf(t *testing.T, p *Processor[tev]) []DeadLetter[tev] {
	t.Helper()
	var out []DeadLetter[tev]
	require.NoError(t, p.DeadLetters(func(d DeadLetter[tev]) error {
		out = append(out, d)
		return nil
	}))
	return out
}

// Dead letters come back decoded as T with their metadata; an undecodable
// one is reported in its Err, and iteration goes on.
func TestDeadLettersDecodedAsT(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	appendPayloads(t, path, [][]byte{{0xdd, 0xff, 0xff, 0xff, 0xff}}) // an array32 header declaring 4G elements
	sink := newRecSink(refuseOdd)
	p := openP(t, path, sink, quiet(WithBatchSize(1))...)
	enqueueN(t, p, 0, 4)
	require.NoError(t, p.Drain(context.Background()))
	dls := deadOf(t, p)
	require.Len(t, dls, 3)

	require.ErrorIs(t, dls[0].Err, ErrUndecodable)
	require.Zero(t, dls[0].Value)
	require.Equal(t, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, dls[0].Payload)
	require.Contains(t, dls[0].Reason, "undecodable: ")

	ids := map[string]bool{}
	for _, a := range sink.all() {
		ids[a.IDs[0]] = true
	}
	for i, want := range []int{1, 3} {
		d := dls[i+1]
		require.NoError(t, d.Err)
		require.Equal(t, want, d.Value.N)
		require.True(t, ids[d.ID], "the ID the dispatcher saw: %s", d.ID)
		require.Equal(t, 1, d.Attempts)
		require.NotEmpty(t, d.BatchID)
		require.Contains(t, d.Reason, "no reason given")
		require.WithinDuration(t, time.Now(), d.DeadAt, time.Minute)
		require.WithinDuration(t, time.Now(), d.EnqueuedAt, time.Minute)
	}
}

// Requeue and purge by event ID, or all; a requeued event is dispatched
// again with its ID.
func TestRequeueAndPurgeDeadByID(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(refuseOdd)
	p := openP(t, walPath(t), sink, quiet(WithBatchSize(1))...)
	enqueueN(t, p, 0, 8) // 1, 3, 5, 7 die
	require.NoError(t, p.Drain(context.Background()))
	dls := deadOf(t, p)
	require.Len(t, dls, 4)

	n, err := p.RequeueDead()
	require.NoError(t, err)
	require.Zero(t, n, "no IDs: nothing")
	_, err = p.RequeueDead("not-an-id")
	require.ErrorIs(t, err, ErrBadEventID)
	_, err = p.PurgeDead("zz")
	require.ErrorIs(t, err, ErrBadEventID)

	sink.setFn(nil) // the sink now takes everything
	n, err = p.RequeueDead(dls[0].ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, p.Drain(context.Background()))
	last := sink.all()[len(sink.all())-1]
	require.Equal(t, []string{dls[0].ID}, last.IDs, "dispatched again under its ID")
	require.Equal(t, []int{1}, last.Ns)

	n, err = p.PurgeDead(dls[1].ID, dls[1].ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Len(t, deadOf(t, p), 2)
	require.EqualValues(t, 2, p.Stats().DeadEvents)

	n, err = p.RequeueAllDead()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.NoError(t, p.Drain(context.Background()))
	require.Empty(t, deadOf(t, p))
	require.ElementsMatch(t, []int{0, 2, 4, 6, 1, 5, 7}, sink.delivered())

	sink.setFn(refuseOdd)
	enqueueN(t, p, 9, 1)
	require.NoError(t, p.Drain(context.Background()))
	n, err = p.PurgeAllDead()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, p.Stats().DeadEvents)
	require.NoError(t, p.Stop(context.Background()))
	_, err = p.RequeueAllDead()
	require.ErrorIs(t, err, ErrStopped)
}

func TestManagerDeadLetters(t *testing.T) {
	noLeaks(t)
	refuse := func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error {
			return errBadEvent
		}), []Option{WithBatchSize(2)}, nil
	}
	m, err := OpenManager[int](walPath(t), refuse, time.Hour, nil)
	require.NoError(t, err)
	require.NoError(t, m.EnqueueMany(context.Background(), "s", []int{7, 8}))
	require.NoError(t, m.Flush(context.Background()))
	var ids []string
	require.NoError(t, m.DeadLetters("s", func(d DeadLetter[int]) error {
		ids = append(ids, d.ID)
		return nil
	}))
	require.Len(t, ids, 2)
	require.ErrorIs(t, m.DeadLetters("nope", func(DeadLetter[int]) error { return nil }), wal.ErrNoStream)
	require.NotContains(t, m.log.Streams(), "nope", "reading does not create a stream")
	n, err := m.PurgeDead("s", ids[0])
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = m.PurgeAllDead("s")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = m.RequeueAllDead("s")
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = m.RequeueDead("s", ids[1])
	require.NoError(t, err)
	require.Zero(t, n, "purged")
	require.NoError(t, m.Stop(context.Background()))
}
