package recovery

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// A stream's codec record (wal.Stream.SetCodec) is no damage to Verify,
// and Repair keeps it.
func TestCodecRecordSurvivesVerifyAndRepair(t *testing.T) {
	path := buildWAL(t)
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	require.NoError(t, s.SetCodec("application/json"))
	require.NoError(t, l.Close())
	mustVerify(t, path)

	damage(t, path, "a", func(rs format.RawStream) {
		require.NoError(t, rs.Bucket.Put([]byte("requeued"), []byte("garbage")))
	})
	r, err := Verify(path, nil)
	require.NoError(t, err)
	require.False(t, r.OK())
	_, err = Repair(path, nil)
	require.NoError(t, err)
	mustVerify(t, path)

	ro, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	s, err = ro.Stream("a")
	require.NoError(t, err)
	require.Equal(t, "application/json", s.Codec())
}
