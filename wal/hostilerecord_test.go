package wal

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
)

// hostileRecords are values a damaged or crafted file can hold where the
// log keeps its own msgpack records (batches, dead letters, completions):
// an unknown field nested millions of levels deep (msgpack skips it by
// recursing once per level, past the stack's limit), and lengths far past
// the value's end.
func hostileRecords() map[string][]byte {
	deep := func(depth int) []byte {
		b := []byte{0x82, 0xa3, 's', 'e', 'q', 0x01, 0xa1, 'x'}
		b = append(b, bytes.Repeat([]byte{0x91}, depth)...)
		return append(b, 0x01)
	}
	return map[string][]byte{
		"unknown field 8M deep":  deep(8 << 20),
		"unknown field 101 deep": deep(101),
		"map32 of 4G":            {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa3, 's', 'e', 'q', 0x01},
		"array32 of 4G":          {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
		"bin32 of 4G in rec":     {0x81, 0xa3, 'r', 'e', 'c', 0xc6, 0xff, 0xff, 0xff, 0xff, 0x01},
		"trailing bytes":         {0x81, 0xa3, 's', 'e', 'q', 0x01, 0xc0},
	}
}

// The log's own records are checked like payloads before msgpack decodes
// them: each hostile value is an error wrapping store.ErrCorrupt, never a
// crash.
func TestHostileRecordsAreCorrupt(t *testing.T) {
	var uid [8]byte
	for name, v := range hostileRecords() {
		_, err := format.DecodeBatch(uid, 1, v)
		require.ErrorIs(t, err, store.ErrCorrupt, "batch: %s", name)
		_, err = format.DecodeCompletion(uid, 1, v)
		require.ErrorIs(t, err, store.ErrCorrupt, "completion: %s", name)
		_, err = format.DecodeDeadRecord(v)
		require.ErrorIs(t, err, store.ErrCorrupt, "dead record: %s", name)
		_, err = decodeDead(1, v)
		require.ErrorIs(t, err, store.ErrCorrupt, "dead letter: %s", name)
	}
}
