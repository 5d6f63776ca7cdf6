package processor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/boltfile"
	"github.com/walbatch/walbatch/internal/boltfile/boltfiletest"
	"github.com/walbatch/walbatch/wal"
)

// pendingAfterDamage appends events 1-3, each in a commit of its own,
// damages the newest meta page at off and opens a processor on the file.
func pendingAfterDamage(t *testing.T, off int64) (*Processor[tev], *recSink) {
	t.Helper()
	path := walPath(t)
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream(DefaultStream)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		payload, err := encode(tev{N: i})
		require.NoError(t, err)
		_, err = s.Append("", payload)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	boltfiletest.FlipNewestMeta(t, path, off)
	sink := newRecSink(nil)
	return openP(t, path, sink, quiet(WithBatchSize(100))...), sink
}

// A flipped bit in the newest meta page's checksum would make bbolt open
// the file a commit behind, losing the last acknowledged event without a
// word: Open restores that commit instead, and says so in its report.
func TestOpenRestoresNewestCommitWithDamagedChecksum(t *testing.T) {
	noLeaks(t)
	p, sink := pendingAfterDamage(t, boltfile.PageHeaderSize+56)
	require.NotEmpty(t, p.Recovery().Repaired)
	require.Contains(t, p.Recovery().Repaired[0], "restored transaction")
	require.Empty(t, p.Recovery().Problems)
	require.EqualValues(t, 3, p.Recovery().PendingEvents)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.Flush(ctx))
	require.Equal(t, []int{1, 2, 3}, sink.delivered())
}

// Damage to the newest meta page's fields cannot be undone: Open's report
// says the newest commit is missing.
func TestOpenReportsDamagedMetaPage(t *testing.T) {
	noLeaks(t)
	p, _ := pendingAfterDamage(t, boltfile.PageHeaderSize+16)
	require.EqualValues(t, 2, p.Recovery().PendingEvents, "the newest commit is lost")
	require.NotEmpty(t, p.Recovery().Problems)
	require.Contains(t, p.Recovery().Problems[0], "meta page")
	require.Contains(t, p.Recovery().Problems[0], "are missing")
}
