package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// then runs once the entries are committed, before the append returns,
// with the first sequence number; never for an append refused or written
// into a closed Log.
func TestAppendThen(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	var got []uint64
	then := func(first uint64) { got = append(got, first) } // the writer's calls and the returns are ordered: no lock needed
	first, err := s.AppendManyThen([]Entry{{Payload: payloadN(1)}, {Payload: payloadN(2)}}, then)
	require.NoError(t, err)
	require.Equal(t, []uint64{first}, got, "then ran before AppendManyThen returned")
	a, err := s.AppendEntryThen(Entry{Payload: payloadN(3)}, then)
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 3}, append(got[:1:1], a.Seq))
	done := make(chan error, 1)
	s.AppendAsyncThen([]Entry{{Payload: payloadN(4)}, {Payload: payloadN(5)}}, then, func(f uint64, err error) {
		if err == nil && got[len(got)-1] != f {
			t.Errorf("then did not run before the callback: %v, first %d", got, f)
		}
		done <- err
	})
	require.NoError(t, <-done)
	require.Equal(t, []uint64{1, 3, 4}, got)

	s.SetLimits(5, 0)
	_, err = s.AppendManyThen([]Entry{{Payload: payloadN(6)}}, then)
	require.ErrorIs(t, err, ErrFull)
	require.NoError(t, l.Close())
	_, err = s.AppendManyThen([]Entry{{Payload: payloadN(6)}, {Payload: payloadN(7)}}, then)
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, []uint64{1, 3, 4}, got, "no then for an append not committed")
}

// AppendMany from an AppendAsync callback returns: it is answered by the
// writer, not through the callback goroutine the callback runs on.
func TestAppendManyFromCallback(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	done := make(chan error, 1)
	s.AppendAsync([]Entry{{Payload: payloadN(1)}}, func(uint64, error) {
		_, err := s.AppendMany([]Entry{{Payload: payloadN(2)}, {Payload: payloadN(3)}})
		done <- err
	})
	require.NoError(t, <-done) // before, a deadlock: the callback waited for itself
	require.Len(t, eventsOf(t, s), 3)
}
