package store

import (
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/boltfile"
)

// Offsets in a meta page, from its start: the root page id and the
// checksum.
const (
	metaRootOff     = boltfile.PageHeaderSize + 16
	metaChecksumAt  = boltfile.PageHeaderSize + 56
	metaFieldsBytes = boltfile.PageHeaderSize + 64
)

// damageMeta flips bit 0 of the byte at off within the newest meta page
// (newest true) or the older one, zeroes the whole page when off < 0, and
// returns the transaction ids of the newest and the older page.
func damageMeta(t *testing.T, path string, newest bool, off int64) (newTx, oldTx uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	m := boltfile.ReadMetas(f)
	require.True(t, m.Page[0].Valid && m.Page[1].Valid, "both meta pages valid before")
	cur, other := m.Page[m.Current], m.Page[1-m.Current]
	p := other
	if newest {
		p = cur
	}
	if off < 0 {
		_, err = f.WriteAt(make([]byte, metaFieldsBytes), p.Off)
	} else {
		b := make([]byte, 1)
		_, err = f.ReadAt(b, p.Off+off)
		require.NoError(t, err)
		b[0] ^= 1
		_, err = f.WriteAt(b, p.Off+off)
	}
	require.NoError(t, err)
	return cur.Txid, other.Txid
}

// A flipped bit in the newest meta page's checksum makes bbolt open the
// older page, a transaction behind. A read-only Open says so and changes
// nothing; an Open for writing restores the newest commit (its fields are
// intact) before bbolt opens the file, so nothing acknowledged is lost.
func TestNewestMetaChecksumFlipped(t *testing.T) {
	path := makeWAL(t, 100, 100)
	db := mustOpen(t, path, nil)
	put(t, db, 100, 1, 100) // the newest commit: key 100
	require.NoError(t, db.Close())
	newTx, oldTx := damageMeta(t, path, true, metaChecksumAt)
	require.Equal(t, newTx, oldTx+1)
	before := hashOf(t, path)

	db = mustOpen(t, path, &Options{ReadOnly: true})
	require.Len(t, db.MetaProblems(), 1)
	require.Contains(t, db.MetaProblems()[0], "invalid (checksum mismatch")
	require.Contains(t, db.MetaProblems()[0], "the file is at transaction "+itoa(oldTx))
	require.Contains(t, db.MetaProblems()[0], "it holds transaction "+itoa(newTx)+", the newest commit")
	require.Len(t, contents(t, db), 100, "bbolt opened a transaction behind")
	require.Empty(t, db.MetaRestored())
	require.NoError(t, db.Close())
	require.Equal(t, before, hashOf(t, path), "a read-only open changes nothing")

	db = mustOpen(t, path, nil)
	require.Contains(t, db.MetaRestored(), "restored transaction "+itoa(newTx))
	require.Empty(t, db.MetaProblems())
	require.Len(t, contents(t, db), 101, "the newest commit is back")
}

// Damage to the newest meta page's fields cannot be undone: every Open
// reports it (the newest commit is missing) and goes on at the older page.
// Damage to the older page loses nothing, and says so. A zeroed page may
// have held either.
func TestInvalidMetaPageReported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		newest bool
		off    int64
		want   string
	}{
		{"newest root", true, metaRootOff, "the newest commit: events acknowledged in that commit are missing"},
		{"older checksum", false, metaChecksumAt, "the older copy"},
		{"older root", false, metaRootOff, "the older copy"},
		{"newest zeroed", true, -1, "may be missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := makeWAL(t, 100, 100)
			damageMeta(t, path, tc.newest, tc.off)
			for _, ro := range []bool{true, false} {
				db, err := Open(path, &Options{ReadOnly: ro, AutoCompactRatio: -1})
				require.NoError(t, err)
				require.Len(t, db.MetaProblems(), 1, "read-only %v", ro)
				require.Contains(t, db.MetaProblems()[0], "invalid")
				require.Contains(t, db.MetaProblems()[0], tc.want)
				require.Empty(t, db.MetaRestored())
				require.NoError(t, db.Close())
			}
		})
	}
}

// Sound files report no meta problem.
func TestSoundFileHasNoMetaProblem(t *testing.T) {
	path := makeWAL(t, 10, 10)
	db := mustOpen(t, path, &Options{ReadOnly: true})
	require.Empty(t, db.MetaProblems())
	require.Empty(t, db.MetaRestored())
}

func hashOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
