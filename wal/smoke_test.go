package wal

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSmoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	l, err := Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				_, err := s.Append("", []byte("hello"))
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	first, err := s.AppendMany([]Entry{{Payload: []byte("x")}, {Key: "k", Payload: []byte("y")}})
	require.NoError(t, err)
	require.Equal(t, uint64(1001), first)
	st := s.Stats()
	require.Equal(t, int64(1002), st.PendingEvents)
	res, err := s.Seal(SealOptions{MaxEvents: 100})
	require.NoError(t, err)
	require.Equal(t, 100, res.Batch.Count)
	require.NoError(t, s.Complete(res.Batch.Seq))
	res, err = s.Seal(SealOptions{MaxEvents: 1000})
	require.NoError(t, err)
	require.Equal(t, 901, res.Batch.Count)
	b, err := s.CompletePartial(res.Batch.Seq, 500)
	require.NoError(t, err)
	require.Equal(t, 401, b.Count)
	require.NoError(t, s.DeadLetter(b.Seq, "nope", true))
	res, err = s.Seal(SealOptions{MaxEvents: 1000})
	require.NoError(t, err)
	require.Nil(t, res.Batch) // key run [k] not closed... run [x] closed by k
	require.NoError(t, l.Close())
	l, err = Open(path, nil)
	require.NoError(t, err)
	s, _ = l.Stream("a")
	st = s.Stats()
	t.Logf("%+v", st)
	require.Equal(t, int64(401), st.DeadEvents)
	rr, err := s.Requeue(nil)
	require.NoError(t, err)
	require.Equal(t, 401, rr.Requeued)
	require.NoError(t, l.Close())
}
