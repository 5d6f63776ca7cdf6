package wal

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// checkLog, run after every test that opens a log with mustOpen, fails on
// what a full scan finds wrong: here a counter, and records whose fields
// fail their checksum (which its scan before format.ScanStream missed).
func TestCheckLogFindsDamage(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		damage     func(rs format.RawStream, st *format.State)
	}{
		{"counter", "PendingCount is 5, a scan finds 4", func(_ format.RawStream, st *format.State) { st.PendingCount++ }},
		{"completion record", "completion record 1 fails its checksum", func(rs format.RawStream, _ *format.State) {
			v := append([]byte(nil), rs.Done.Get(format.SeqKey(1))...)
			v[len(v)-1] ^= 1
			require.NoError(t, rs.Done.Put(format.SeqKey(1), v))
		}},
		{"dead-letter fields", "fail their checksum", func(rs format.RawStream, _ *format.State) {
			k, v := rs.Dead.Cursor().First()
			v = append([]byte(nil), v...)
			v[len(v)-1] ^= 1
			require.NoError(t, rs.Dead.Put(k, v))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(filepath.Join(t.TempDir(), "wal.db"), nil)
			require.NoError(t, err)
			defer l.Close()
			s := mustStream(t, l, "a")
			appendN(t, s, "", 0, 8)
			for _, dead := range []bool{false, true} {
				res, err := s.Seal(SealOptions{MaxEvents: 2})
				require.NoError(t, err)
				if dead {
					require.NoError(t, s.DeadLetter(res.Batch.Seq, "no", false))
				} else {
					require.NoError(t, s.Complete(res.Batch.Seq))
				}
			}
			require.NoError(t, checkLog(l))
			require.NoError(t, format.RewriteStream(s, func(tx *bolt.Tx, st *format.State) error {
				rs, _ := format.RawStreamOf(tx, "a")
				tc.damage(rs, st)
				return nil
			}))
			err = checkLog(l)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
