package wal

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// holdWriter appends one event ("hold") and then blocks the writer
// goroutine inside a transition that writes nothing, until the returned
// release is called, so that the requests a test queues meanwhile form
// one group. queued reports how many are waiting.
func holdWriter(t *testing.T, s *Stream) (release func(), queued func() int) {
	t.Helper()
	_, err := s.Append("", []byte("hold"))
	require.NoError(t, err)
	held, resume := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.l.write(s, func(*bolt.Tx, *format.State) error {
			close(held)
			<-resume
			return refuse(errNothing)
		}, nil)
	}()
	<-held
	c := s.l.c
	return func() { close(resume) }, func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue)
	}
}

// queue runs fn on a goroutine of its own once the writer holds n-1
// requests, and waits until fn's request is queued as the n-th: requests
// from different goroutines then enter the group in a known order.
func queue(t *testing.T, queued func() int, n int, fn func()) <-chan struct{} {
	t.Helper()
	require.Eventually(t, func() bool { return queued() == n-1 }, 10*time.Second, time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	require.Eventually(t, func() bool { return queued() == n }, 10*time.Second, time.Millisecond)
	return done
}

// Appends and transitions queued together are one group: one commit. The
// transitions go first, in their order, each seeing those before it (the
// seal comes after the completion) and every append answered before it
// (the held one), not the append queued with it, which follows them. A
// refused transition leaves the others committed.
func TestGroupSharesOneCommit(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 2)
	b := sealOne(t, s, 2)
	release, queued := holdWriter(t, s)
	before := l.CommitStats()

	var appended Appended
	var appendErr, completeErr, refusedErr, sealErr error
	var sealed SealResult
	done := []<-chan struct{}{
		queue(t, queued, 1, func() { appended, appendErr = s.Append("", []byte("x")) }),
		queue(t, queued, 2, func() { completeErr = s.Complete(b.Seq) }),
		queue(t, queued, 3, func() { refusedErr = s.Complete(b.Seq + 100) }),
		queue(t, queued, 4, func() { sealed, sealErr = s.Seal(SealOptions{MaxEvents: 10, Force: true}) }),
	}
	release()
	for _, d := range done {
		<-d
	}
	require.NoError(t, appendErr)
	require.NoError(t, completeErr)
	require.ErrorIs(t, refusedErr, ErrNoBatch)
	require.NoError(t, sealErr)
	require.NotNil(t, sealed.Batch)
	require.Equal(t, []uint64{3}, seqsOf(sealed.Records), "the held event")
	require.EqualValues(t, 4, appended.Seq, "after the transitions")

	after := l.CommitStats()
	// before was read once the held append had committed: one commit
	// for the four requests.
	require.EqualValues(t, 1, after.Commits-before.Commits)
	require.EqualValues(t, 1, after.Events-before.Events)
	require.EqualValues(t, 2, after.Transitions-before.Transitions, "the completion and the seal; the refused completion is not counted")
	require.Equal(t, statsOf{Pending: 1, PendingBytes: 1, InFlightBatches: 1, InFlight: 1, InFlightBytes: 4, CompletedBatches: 1, CompletedEvents: 2}, statsNow(s))
}

// A transition that fails after it wrote is rolled back with its group,
// and the group is written again without it: the others commit, it alone
// gets its error, and nothing it wrote is in the file.
func TestGroupWithoutFailedTransition(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	release, queued := holdWriter(t, s)
	boom := errors.New("boom")
	var appendErr, badErr, sealErr error
	var sealed SealResult
	done := []<-chan struct{}{
		queue(t, queued, 1, func() { _, appendErr = s.Append("", []byte("x")) }),
		queue(t, queued, 2, func() {
			badErr = l.write(s, func(tx *bolt.Tx, st *format.State) error {
				events, err := s.sub(tx, format.BucketEvents)
				if err != nil {
					return err
				}
				st.PendingCount += 7 // staged counters must be dropped too
				if err := events.Put(format.SeqKey(999), []byte("partial")); err != nil {
					return err
				}
				return boom
			}, func() { panic("after of a failed transition") })
		}),
		queue(t, queued, 3, func() { sealed, sealErr = s.Seal(SealOptions{MaxEvents: 10, Force: true}) }),
	}
	release()
	for _, d := range done {
		<-d
	}
	require.NoError(t, appendErr)
	require.ErrorIs(t, badErr, boom)
	require.NoError(t, sealErr)
	require.Equal(t, []uint64{1}, seqsOf(sealed.Records))
	require.NoError(t, storetx.View(l.db, func(tx *bolt.Tx) error {
		events, err := s.sub(tx, format.BucketEvents)
		require.NoError(t, err)
		require.Nil(t, events.Get(format.SeqKey(999)), "the failed transition's write was rolled back")
		return nil
	}))
	require.Equal(t, statsOf{Pending: 1, PendingBytes: 1, InFlightBatches: 1, InFlight: 1, InFlightBytes: 4}, statsNow(s))
}

// Appends share a transitions' group only up to sideEvents events: a larger
// append waits for the next commit, so the transitions do not wait for
// its write. Appends keep their queue order.
func TestGroupSideEvents(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	release, queued := holdWriter(t, s)
	before := l.CommitStats()
	many := make([]Entry, sideEvents+1)
	for i := range many {
		many[i].Payload = []byte("m")
	}
	var small, big uint64
	var smallErr, bigErr, sealErr error
	done := []<-chan struct{}{
		queue(t, queued, 1, func() { small, smallErr = s.AppendMany([]Entry{{Payload: []byte("a")}, {Payload: []byte("b")}}) }),
		queue(t, queued, 2, func() { big, bigErr = s.AppendMany(many) }),
		queue(t, queued, 3, func() { _, sealErr = s.Seal(SealOptions{MaxEvents: 1, Force: true}) }),
	}
	release()
	for _, d := range done {
		<-d
	}
	require.NoError(t, smallErr)
	require.NoError(t, bigErr)
	require.NoError(t, sealErr)
	require.EqualValues(t, 2, small)
	require.EqualValues(t, 4, big, "appends in queue order")
	after := l.CommitStats()
	require.EqualValues(t, 2, after.Commits-before.Commits, "the seal with the small append, then the large one")
	require.EqualValues(t, sideEvents+3, after.Events-before.Events)
}

// A group in which every transition refused writes nothing: no commit.
func TestGroupOfRefusalsCommitsNothing(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	before := l.CommitStats()
	res, err := s.Seal(SealOptions{MaxEvents: 10, Force: true})
	require.NoError(t, err)
	require.Nil(t, res.Batch)
	_, err = s.Retry(42, time.Now(), "x")
	require.ErrorIs(t, err, ErrNoBatch)
	require.Equal(t, before, l.CommitStats())
}

func seqsOf(recs []Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

// A transition queued while the writer writes the first of several groups
// of appends goes in the next group, not after all of them: the seal
// sees the events of the group written before it came, not those of the
// groups still to write.
func TestTransitionDoesNotWaitForQueuedGroups(t *testing.T) {
	l, _ := mustOpen(t, &Options{MaxGroupEvents: 4})
	s := mustStream(t, l, "s")
	release, queued := holdWriter(t, s) // event 1
	const n = 12
	answered := make(chan error, n)
	for range n {
		s.AppendAsync([]Entry{{Payload: []byte("a")}}, func(_ uint64, err error) { answered <- err })
	}
	// A transition behind them blocks the writer in the next group, which
	// holds it and the first 3 appends (events 2-4): 4 with MaxGroupEvents 4.
	held, resume := make(chan struct{}), make(chan struct{})
	queue(t, queued, n+1, func() {
		_ = l.write(s, func(*bolt.Tx, *format.State) error {
			close(held)
			<-resume
			return refuse(errNothing)
		}, nil)
	})
	before := l.CommitStats()
	release()
	<-held
	var sealed SealResult
	var sealErr error
	sealDone := queue(t, queued, 1, func() { sealed, sealErr = s.Seal(SealOptions{MaxEvents: 100, Force: true}) })
	close(resume)
	<-sealDone
	require.NoError(t, sealErr)
	require.NotNil(t, sealed.Batch)
	require.Equal(t, []uint64{1, 2, 3, 4}, seqsOf(sealed.Records), "the seal comes right after the group being written, before events 5-13")
	for range n {
		require.NoError(t, <-answered)
	}
	after := l.CommitStats()
	// The held group (3 appends), the seal's (the seal and 3 appends), then
	// the 6 appends left in two groups.
	require.EqualValues(t, 4, after.Commits-before.Commits)
	require.EqualValues(t, n, after.Events-before.Events)
	require.EqualValues(t, 1, after.Transitions-before.Transitions)
}
