package recovery

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

// The log's own quarantine (Seal moving a corrupt pending record to dead
// letters) must leave a file that Verify accepts.
func TestSealQuarantineLeavesConsistentFile(t *testing.T) {
	path := buildWAL(t)
	damage(t, path, "a", func(rs wal.RawStream) {
		flipIn(t, rs, state(t, rs).SealedThrough+2)
	})
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("a")
	require.NoError(t, err)
	res, err := s.Seal(wal.SealOptions{MaxEvents: 1000, Force: true})
	require.NoError(t, err)
	require.Equal(t, 1, res.Quarantined)
	require.NoError(t, l.Close())
	mustVerify(t, path)
}
