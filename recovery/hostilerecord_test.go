package recovery

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// A batch record and a dead letter of a damaged or crafted file that nest
// an unknown field 8M levels deep (msgpack skipped it by recursing past
// the stack's limit: a fatal error at every open) are reported as damage
// by Verify, Plan and Repair, and the file opens.
func TestDeeplyNestedRecordsAreReportedNotFatal(t *testing.T) {
	path := buildWAL(t)
	hostile := append([]byte{0x82, 0xa3, 's', 'e', 'q', 0x01, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, 8<<20)...)
	hostile = append(hostile, 0x01)
	damage(t, path, "a", func(rs format.RawStream) {
		k, _ := rs.Batches.Cursor().First()
		require.NotNil(t, k)
		require.NoError(t, rs.Batches.Put(k, hostile))
		k, _ = rs.Dead.Cursor().First()
		require.NotNil(t, k)
		require.NoError(t, rs.Dead.Put(k, hostile))
	})
	rep, err := Verify(path, nil)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Problems)

	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	rec, err := Plan(l, nil)
	require.NoError(t, err)
	require.False(t, rec.OK())
	require.NoError(t, l.Close())

	_, err = Repair(path, nil)
	require.NoError(t, err)
	mustVerify(t, path)
}
