package wal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCommitStatsCountGroupCommits(t *testing.T) {
	l, _ := mustOpen(t, nil)
	require.Zero(t, l.CommitStats())
	s := mustStream(t, l, "a")
	cs := l.CommitStats()
	require.EqualValues(t, 1, cs.Commits, "creating a stream is a commit")
	require.EqualValues(t, 1, cs.Transitions)
	appendN(t, s, "", 0, 3) // one commit each
	_, err := s.AppendMany([]Entry{{Payload: []byte("x")}, {Payload: []byte("y")}})
	require.NoError(t, err)
	cs = l.CommitStats()
	require.EqualValues(t, 5, cs.Commits)
	require.EqualValues(t, 5, cs.Events)
	require.EqualValues(t, 1, cs.Transitions)
	require.Positive(t, cs.Time)

	s.SetLimits(5, 0)
	_, err = s.Append("", []byte("z"))
	require.ErrorIs(t, err, ErrFull)
	require.Equal(t, cs, l.CommitStats(), "a refused append commits nothing")
	st := s.Stats()
	require.EqualValues(t, 1, st.RefusedSinceOpen)
	require.EqualValues(t, 5, st.MaxPendingEvents)

	res, err := s.Seal(SealOptions{MaxEvents: 10, Force: true})
	require.NoError(t, err)
	require.NotNil(t, res.Batch)
	_, err = s.Seal(SealOptions{MaxEvents: 10, Force: true})
	require.NoError(t, err)
	require.NoError(t, s.Complete(res.Batch.Seq))
	require.ErrorIs(t, s.Complete(res.Batch.Seq), ErrNoBatch)
	cs = l.CommitStats()
	require.EqualValues(t, 7, cs.Commits, "a seal and a completion; a seal with nothing to seal and a refused completion write nothing")
	require.EqualValues(t, 3, cs.Transitions)
	require.EqualValues(t, 5, cs.Events)
}

// The since-open counts only grow: a requeue or purge of dead letters
// leaves DeadLetteredSinceOpen as it was, and a new open starts at 0.
func TestSinceOpenCounts(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "a")
	appendN(t, s, "", 0, 4)
	res, err := s.Seal(SealOptions{MaxEvents: 2, Force: true})
	require.NoError(t, err)
	_, err = s.Retry(res.Batch.Seq, time.Now(), "down")
	require.NoError(t, err)
	require.NoError(t, s.DeadLetter(res.Batch.Seq, "gave up", true))
	st := s.Stats()
	require.EqualValues(t, 1, st.RetriedSinceOpen)
	require.EqualValues(t, 2, st.DeadLetteredSinceOpen)

	_, err = s.Requeue(nil)
	require.NoError(t, err)
	require.Zero(t, s.Stats().DeadEvents)
	require.EqualValues(t, 2, s.Stats().DeadLetteredSinceOpen)

	l = reopen(t, l, nil)
	st = mustStream(t, l, "a").Stats()
	require.Zero(t, st.RetriedSinceOpen)
	require.Zero(t, st.DeadLetteredSinceOpen)
	require.EqualValues(t, 4, st.PendingEvents)
}
