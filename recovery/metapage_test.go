package recovery

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/boltfile"
	"github.com/walbatch/walbatch/internal/boltfile/boltfiletest"
	"github.com/walbatch/walbatch/wal"
)

// walWithLastEvent is buildWAL plus one event appended in a commit of its
// own, the newest; it returns the path and the stream's event count.
func walWithLastEvent(t *testing.T) (string, int64) {
	path := buildWAL(t)
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	s, err := l.Stream("b")
	require.NoError(t, err)
	_, err = s.Append("", []byte("the last acknowledged event"))
	require.NoError(t, err)
	n := s.Stats().PendingEvents
	require.NoError(t, l.Close())
	return path, n
}

func pendingOf(t *testing.T, path string) int64 {
	t.Helper()
	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	s, err := l.Stream("b")
	require.NoError(t, err)
	return s.Stats().PendingEvents
}

// A flipped bit in the newest meta page's checksum (bbolt silently opens
// the older page, and the newest commit, acknowledged, is gone) is a
// problem for Verify and Plan, and Repair restores that commit.
func TestNewestMetaChecksumRepaired(t *testing.T) {
	path, n := walWithLastEvent(t)
	boltfiletest.FlipNewestMeta(t, path, boltfile.PageHeaderSize+56)
	require.Equal(t, n-1, pendingOf(t, path), "bbolt opens a transaction behind")

	r, err := Verify(path, nil)
	require.NoError(t, err)
	require.False(t, r.OK())
	require.True(t, r.Has(KindFile))
	require.Contains(t, r.Problems[0].Msg, "meta page")
	require.Contains(t, r.Problems[0].Msg, "invalid")

	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	plan, err := Plan(l, nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.False(t, plan.OK())
	require.Len(t, plan.File, 1)
	require.Contains(t, plan.String(), "meta page")

	rep, err := Repair(path, nil)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Backup)
	require.False(t, rep.Rebuilt)
	require.Contains(t, rep.Actions[0], "restored transaction")
	require.True(t, rep.After.OK(), "%s", rep.After)
	require.Equal(t, n, pendingOf(t, path), "the newest commit is back")
}

// Damage to the newest meta page's fields cannot be undone: Verify reports
// it, and Repair rebuilds the file at the older commit, saying so, so that
// verify passes again; the original stays in the backup.
func TestNewestMetaFieldsDamaged(t *testing.T) {
	path, n := walWithLastEvent(t)
	boltfiletest.FlipNewestMeta(t, path, boltfile.PageHeaderSize+16) // the root page id
	r, err := Verify(path, nil)
	require.NoError(t, err)
	require.True(t, r.Has(KindFile), "%s", r)
	require.Contains(t, r.String(), "are missing")

	rep, err := Repair(path, nil)
	require.NoError(t, err)
	require.True(t, rep.Rebuilt)
	require.Contains(t, rep.String(), "meta page")
	require.True(t, rep.After.OK(), "%s", rep.After)
	require.Equal(t, n-1, pendingOf(t, path))
}
