package recovery

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// A state record of the other format's size (15 fields in a format 2 file,
// 11 in a format 1 file) is damage: Verify reports the state record,
// wal.Open refuses the file with store.ErrCorrupt, and Repair rebuilds the
// record from a scan in the layout of the file's version.
func TestStateRecordOfTheOtherFormatsSize(t *testing.T) {
	for _, version := range []uint64{1, 2} {
		t.Run(map[uint64]string{1: "format 1", 2: "format 2"}[version], func(t *testing.T) {
			path := buildWALFormat(t, version)
			var want format.State
			damage(t, path, "a", func(rs format.RawStream) {
				require.EqualValues(t, version, rs.Version)
				require.Len(t, rs.State, format.StateSize(version))
				want = state(t, rs)
				require.NoError(t, rs.Bucket.Put(format.KeyState, want.Encode(3-version)))
			})
			r, err := Verify(path, nil)
			require.NoError(t, err)
			require.True(t, r.Has(KindState), "%s", r)
			_, err = wal.Open(path, &wal.Options{ReadOnly: true})
			require.ErrorIs(t, err, store.ErrCorrupt)

			rep, err := Repair(path, nil)
			require.NoError(t, err)
			require.True(t, rep.After.OK(), "%s", rep.After)
			mustVerify(t, path)
			damage(t, path, "a", func(rs format.RawStream) {
				require.Len(t, rs.State, format.StateSize(rs.Version), "rebuilt in the file's layout")
				got := state(t, rs)
				// A scan cannot know Created and the completed totals,
				// nor SealedThrough and NextBatch past the last batch
				// left: the rebuilt record has what the records say.
				got.Created, got.CompletedBatches, got.CompletedEvents = want.Created, want.CompletedBatches, want.CompletedEvents
				got.SealedThrough, got.NextBatch = want.SealedThrough, want.NextBatch
				require.Equal(t, want, got)
			})
		})
	}
}
