package recovery

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/wal"
)

// flipInValue flips the lowest bit of the byte just after the first
// occurrence of marker in the value under key k of bucket b: a change that
// leaves the record decodable, so only its checksum can tell.
func flipInValue(t *testing.T, b *bolt.Bucket, k []byte, marker string) {
	t.Helper()
	v := append([]byte(nil), b.Get(k)...)
	i := bytes.Index(v, []byte(marker))
	require.GreaterOrEqual(t, i, 0, "%q not in %x", marker, v)
	v[i+len(marker)] ^= 0x01
	require.NoError(t, b.Put(k, v))
}

// findValue returns the key of the first value in b holding text.
func findValue(t *testing.T, b *bolt.Bucket, text string) []byte {
	t.Helper()
	var found []byte
	require.NoError(t, b.ForEach(func(k, v []byte) error {
		if found == nil && bytes.Contains(v, []byte(text)) {
			found = append([]byte(nil), k...)
		}
		return nil
	}))
	require.NotNil(t, found, "no value holds %q", text)
	return found
}

// A flipped bit in a dead letter's reason, a completion record, an
// in-flight batch's fields or the stream ID decodes fine; only the records'
// field checksums (for the stream ID: the IDs its events carry) reveal it. Verify reports it, Repair fixes it without losing an event,
// and Verify is clean after.
func TestFieldChecksumsCatchFlippedBits(t *testing.T) {
	cases := []struct {
		name   string
		kind   Kind
		damage func(t *testing.T, rs format.RawStream)
		action string // in Repair's actions
		says   string // in Verify's report; "checksum" if empty
		check  func(t *testing.T, path string, before, after contents)
	}{
		{name: "dead reason", kind: KindDead, action: "fail their checksum: kept, reason now starts with corrupt (the event's own checksum holds)",
			damage: func(t *testing.T, rs format.RawStream) {
				flipInValue(t, rs.Dead, findValue(t, rs.Dead, "400 bad request"), "400 bad")
			},
			check: func(t *testing.T, _ string, before, after contents) {
				require.Equal(t, before.ids, after.ids, "every dead letter is kept with its event")
				n := 0
				for _, reason := range after.dead {
					if strings.HasPrefix(reason, "corrupt: dead-letter fields fail their checksum; the event's own checksum holds (reason as read: 400 bad") {
						n++
					}
				}
				require.Equal(t, 1, n, "%v", after.dead)
			}},
		{name: "dead attempts", kind: KindDead, action: "kept, reason now starts with corrupt",
			damage: func(t *testing.T, rs format.RawStream) {
				flipInValue(t, rs.Dead, findValue(t, rs.Dead, "400 bad request"), "attempts")
			}},
		{name: "completion record", kind: KindDone, action: "dropped completion record",
			damage: func(t *testing.T, rs format.RawStream) {
				k, _ := rs.Done.Cursor().First()
				require.NotNil(t, k)
				flipInValue(t, rs.Done, k, "count")
			},
			check: func(t *testing.T, path string, before, after contents) {
				require.Equal(t, before.ids, after.ids)
			}},
		{name: "completion record garbage", kind: KindDone, action: "dropped completion record", says: "does not decode",
			damage: func(t *testing.T, rs format.RawStream) {
				k, _ := rs.Done.Cursor().First()
				require.NotNil(t, k)
				require.NoError(t, rs.Done.Put(k, []byte{0xc1}))
			}},
		{name: "stream ID", kind: KindBucket, action: "restored the stream ID", says: "differs from the one its events carry",
			damage: func(t *testing.T, rs format.RawStream) {
				uid := append([]byte(nil), rs.UID...)
				uid[3] ^= 0x10
				require.NoError(t, rs.Bucket.Put([]byte("uid"), uid))
			},
			check: func(t *testing.T, path string, before, after contents) {
				l, err := wal.Open(path, &wal.Options{ReadOnly: true})
				require.NoError(t, err)
				defer l.Close()
				s, err := l.Stream("a")
				require.NoError(t, err)
				bs, err := s.Batches()
				require.NoError(t, err)
				require.NotEmpty(t, bs)
				for _, b := range bs {
					require.Equal(t, format.BatchID(s.UID(), b.Seq), b.ID)
					rs, _, err := s.ReadBatch(&b)
					require.NoError(t, err)
					require.Equal(t, s.UID(), [8]byte(rs[0].ID[:8]), "batch IDs are the ones sent before the damage")
				}
			}},
		{name: "batch last error", kind: KindBatch, action: "dropped batch",
			damage: func(t *testing.T, rs format.RawStream) {
				flipInValue(t, rs.Batches, findValue(t, rs.Batches, "503"), "err\xa3")
			},
			check: func(t *testing.T, _ string, before, after contents) {
				require.Equal(t, before.ids, after.ids, "the batch's events are pending again")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := buildWAL(t)
			before := readContents(t, path, "a")
			damage(t, path, "a", func(rs format.RawStream) { tc.damage(t, rs) })

			r, err := Verify(path, nil)
			require.NoError(t, err)
			require.False(t, r.OK(), "verify missed the flipped bit")
			require.True(t, r.Has(tc.kind), "%s", r)
			if tc.says == "" {
				tc.says = "checksum"
			}
			require.Contains(t, r.String(), tc.says)

			rep, err := Repair(path, nil)
			require.NoError(t, err)
			t.Log(rep)
			require.Empty(t, rep.Unrepaired)
			require.True(t, rep.After.OK(), "%s", rep.After)
			require.Contains(t, strings.Join(rep.Actions, "\n"), tc.action)
			mustVerify(t, path)

			after := readContents(t, path, "a")
			require.Equal(t, before.ids, after.ids, "no event is lost")
			if tc.check != nil {
				tc.check(t, path, before, after)
			}
			l, err := wal.Open(path, nil)
			require.NoError(t, err)
			require.NoError(t, l.Close())
			mustVerify(t, path)
		})
	}
}
