package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendKeepsHeaders(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	h := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	a, err := s.AppendEntry(Entry{Payload: []byte("one"), Headers: h})
	require.NoError(t, err)
	first, err := s.AppendMany([]Entry{{Payload: []byte("two"), Headers: h}, {Payload: []byte("three")}})
	require.NoError(t, err)
	done := make(chan error, 1)
	s.AppendAsync([]Entry{{Payload: []byte("four"), Headers: map[string]string{"k": "v"}}}, func(_ uint64, err error) { done <- err })
	require.NoError(t, <-done)
	got := map[uint64]map[string]string{}
	require.NoError(t, s.ForEachEvent(0, 0, func(r Record, err error) error {
		require.NoError(t, err)
		got[r.Seq] = r.Headers
		return nil
	}))
	require.Equal(t, map[uint64]map[string]string{a.Seq: h, first: h, first + 1: nil, first + 2: {"k": "v"}}, got)
	require.EqualValues(t, len("one")+len("two")+len("three")+len("four"), statsNow(s).PendingBytes, "headers do not count toward PendingBytes")
}
