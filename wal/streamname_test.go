package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// hostileNames are stream names a terminal would act on, or that read
// differently from what they hold.
var hostileNames = []string{
	"nul\x00", "esc\x1b[31mred", "osc\x1b]8;;http://x\x1b\\link", "csi\u009b2J", "bidi\u202eevil",
	"isolate\u2066x", "tab\tname", "new\nline", "del\x7f", "bad\xffutf8", "line\u2028sep",
}

func TestStreamRefusesControlAndBidiNames(t *testing.T) {
	l, _ := mustOpen(t, nil)
	for _, name := range hostileNames {
		_, err := l.Stream(name)
		require.ErrorIs(t, err, ErrInvalidName, "%q", name)
	}
	require.Empty(t, l.Streams(), "a refused name created a stream")
	for _, name := range []string{"日本語", "eu-west/1 orders", `back\slash`, "emoji 🙂"} {
		_, err := l.Stream(name)
		require.NoError(t, err, "%q", name)
	}
}

// A file an older version wrote may hold a stream with such a name: it is
// still opened, read and written, so its events are not stranded.
func TestStreamKeepsOldHostileNames(t *testing.T) {
	l, _ := mustOpen(t, nil)
	for _, name := range hostileNames {
		require.NoError(t, storetx.Update(l.Store(), func(tx *bolt.Tx) error { return createLegacyStream(tx, name) }))
	}
	l = reopen(t, l, nil)
	require.ElementsMatch(t, hostileNames, l.Streams())
	for _, name := range hostileNames {
		s, err := l.Stream(name)
		require.NoError(t, err, "%q", name)
		appendN(t, s, "", 0, 2)
		require.Equal(t, int64(2), s.Stats().PendingEvents)
	}
}

// createLegacyStream writes a stream bucket as Log.Stream did before it
// checked names.
func createLegacyStream(tx *bolt.Tx, name string) error {
	rs, err := format.CreateRawStream(tx, name)
	if err != nil {
		return err
	}
	if err := rs.PutUID([8]byte{1, 2, 3, 4, 5, 6, 7, byte(len(name))}); err != nil {
		return err
	}
	return rs.PutState(format.State{NextSeq: 1, NextBatch: 1, Created: 1})
}
