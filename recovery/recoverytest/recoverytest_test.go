package recoverytest

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

func TestVerifyOnCleanup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	VerifyOnCleanup(t, path)
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	s, err := l.Stream("s")
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		_, err := s.Append("", []byte("x"))
		require.NoError(t, err)
	}
	res, err := s.Seal(wal.SealOptions{MaxEvents: 4})
	require.NoError(t, err)
	require.NoError(t, s.Complete(res.Batch.Seq))
	MustVerifyLog(t, l)
}
