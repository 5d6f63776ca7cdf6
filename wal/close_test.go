package wal

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Close commits the appends already queued and answers their callers with
// nil; only appends that begin after Close started get ErrClosed.
func TestCloseCommitsQueuedAppends(t *testing.T) {
	for round := 0; round < 20; round++ {
		l, path := mustOpen(t, &Options{Sync: SyncNone})
		s := mustStream(t, l, "a")
		const n = 200
		var mu sync.Mutex
		var errs []error // not require in the callback: it runs on the committer
		var wg sync.WaitGroup
		wg.Add(n)
		for i := 0; i < n; i++ {
			s.AppendAsync([]Entry{{Payload: payloadN(i)}}, func(_ uint64, err error) {
				defer wg.Done()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			})
		}
		require.NoError(t, l.Close())
		wg.Wait()
		require.Len(t, errs, n)
		for _, err := range errs {
			require.NoError(t, err, "a queued append was refused by Close")
		}
		_, err := s.Append("", []byte("late"))
		require.ErrorIs(t, err, ErrClosed)

		l = openAt(t, path, nil)
		require.EqualValues(t, n, mustStream(t, l, "a").Stats().PendingEvents)
		require.NoError(t, l.Close())
	}
}
