package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPurgeDeadEventsByID(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 4)
	require.NoError(t, s.DeadLetter(sealOne(t, s, 4).Seq, "400", true))
	var ids []EventID
	require.NoError(t, s.ForEachDead(func(d DeadLetter) error {
		ids = append(ids, d.Record.ID)
		return nil
	}))
	require.Len(t, ids, 4)

	n, err := s.PurgeDeadEvents(nil)
	require.NoError(t, err)
	require.Zero(t, n, "no IDs, nothing purged")
	n, err = s.PurgeDeadEvents([]EventID{ids[1], ids[3], {0xff}})
	require.NoError(t, err)
	require.Equal(t, 2, n, "an unknown ID is ignored")
	require.Equal(t, statsOf{Dead: 2, DeadBytes: 24}, statsNow(s))
	require.NoError(t, checkLog(l))
	var left []EventID
	require.NoError(t, s.ForEachDead(func(d DeadLetter) error {
		left = append(left, d.Record.ID)
		return nil
	}))
	require.Equal(t, []EventID{ids[0], ids[2]}, left)

	l = reopen(t, l, nil)
	require.Equal(t, statsOf{Dead: 2, DeadBytes: 24}, statsNow(mustStream(t, l, "s")))
}
