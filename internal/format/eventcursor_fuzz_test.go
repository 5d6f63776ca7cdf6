package format

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

var errRollback = errors.New("roll back")

// FuzzEventCursor builds an events bucket from the input, 3 bytes a value:
// the gap before its key, its form (an envelope, a run of n events, a
// damaged run, a value of neither form) and n; then checks that the walk
// is ascending, that Seek from every sequence number lands where the walk
// says, and that Held agrees with the walk. Each input is written in a
// transaction that is rolled back.
func FuzzEventCursor(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 1, 5, 3, 2, 2, 0, 3, 1}, uint16(40))
	f.Add([]byte{0, 2, 4, 200, 1, 3, 0, 0, 0}, uint16(0))
	f.Add([]byte{5, 3, 9, 0, 2, 1}, uint16(3))
	db, err := bolt.Open(filepath.Join(f.TempDir(), "f.db"), 0o600, &bolt.Options{NoSync: true})
	require.NoError(f, err)
	f.Cleanup(func() { _ = db.Close() })
	f.Fuzz(func(t *testing.T, spec []byte, lastOff uint16) {
		if len(spec) > 3*40 {
			spec = spec[:3*40]
		}
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("events"))
			require.NoError(t, err)
			seq := uint64(1)
			for i := 0; i+2 < len(spec); i += 3 {
				seq += uint64(spec[i] % 8)
				if spec[i] >= 250 {
					seq += MaxRunEvents
				}
				n := 1 + int(spec[i+2]%16)
				var v []byte
				switch spec[i+1] % 5 {
				case 0:
					v, n = valEnvelope(valEvents(seq, 1)[0]), 1
				case 1:
					v = AppendRun(nil, valUID, seq, valEvents(seq, n))
				case 2:
					v = AppendRun(nil, valUID, seq, valEvents(seq, n))
					v[runCRCAt] ^= 1
				case 3:
					v = []byte{0x07}
				default:
					require.NoError(t, b.Put(append(SeqKey(seq), 9), []byte{envArray})) // not a sequence number
					continue
				}
				require.NoError(t, b.Put(SeqKey(seq), v))
				seq += uint64(n)
			}
			last := uint64(lastOff)
			if lastOff >= 1<<15 {
				last = seq + uint64(lastOff-1<<15)
			}
			c := NewEventCursor(b, valUID, true, last)
			var walked []uint64
			var walkErr error
			for ok := c.Seek(0); ok; ok = c.Next() {
				if n := len(walked); n > 0 {
					require.Greater(t, c.Seq(), walked[n-1], "the walk goes back")
				}
				require.GreaterOrEqual(t, c.Seq(), c.Value().Key)
				require.LessOrEqual(t, c.Seq(), c.Value().Last())
				_, _ = c.Event()
				walked = append(walked, c.Seq())
			}
			walkErr = c.Err()
			top := seq + MaxRunEvents + 2
			if len(walked) > 0 {
				top = max(top, walked[len(walked)-1]+2)
			}
			for s := uint64(0); s <= top; s += 1 + s%7 {
				i, _ := slices.BinarySearch(walked, s)
				ok := c.Seek(s)
				if i < len(walked) {
					require.True(t, ok, "Seek(%d) found nothing: %v", s, c.Err())
					require.Equal(t, walked[i], c.Seq(), "Seek(%d)", s)
				} else if ok {
					// Only past a bad key, where the walk stopped.
					require.Error(t, walkErr, "Seek(%d) found %d, past the walk's end", s, c.Seq())
				}
			}
			if walkErr == nil {
				var want [][2]uint64
				for _, s := range walked {
					if n := len(want); n > 0 && want[n-1][1]+1 == s {
						want[n-1][1] = s
					} else {
						want = append(want, [2]uint64{s, s})
					}
				}
				require.Equal(t, want, c.Held(0, ^uint64(0)))
			}
			return errRollback
		})
		require.ErrorIs(t, err, errRollback)
	})
}
