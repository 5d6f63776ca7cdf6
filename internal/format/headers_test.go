package format

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func manyHeaders(n int) map[string]string {
	h := make(map[string]string, n)
	for i := range n {
		h[fmt.Sprintf("k%03d", i)] = fmt.Sprint(i)
	}
	return h
}

// oldRecord builds a five-element record byte by byte, as every version
// before headers wrote it, independently of appendRecordBody.
func oldRecord(id [16]byte, t int64, key string, payload []byte) []byte {
	b := []byte{0x95, 0xc4, 16}
	b = append(b, id[:]...)
	b = append(b, 0xd3)
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	b = append(b, 0xa0|byte(len(key)))
	b = append(b, key...)
	b = append(b, 0xc4, byte(len(payload)))
	b = append(b, payload...)
	b = append(b, 0xce)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[:len(b)-1], castagnoli))
}

func TestOldFiveElementRecordStillDecodes(t *testing.T) {
	id := EventID([8]byte{9}, 3)
	old := oldRecord(id, 1700000000, "key", []byte{0x81, 0xa1, 'a', 0x01})
	r, err := DecodeRecord(3, old)
	require.NoError(t, err)
	require.Equal(t, id, r.ID)
	require.Equal(t, "key", r.Key)
	require.Equal(t, []byte{0x81, 0xa1, 'a', 0x01}, r.Payload)
	require.Nil(t, r.Headers)
	// A record without headers is still written in the old form.
	require.Equal(t, old, EncodeRecord(r))
	require.Equal(t, uint64(4), AppendedBytes(old))
}

func TestHeaderBitFlipFailsChecksum(t *testing.T) {
	r := Record{ID: EventID([8]byte{1}, 1), Payload: []byte("p"), Headers: map[string]string{"traceparent": "00-abc-01"}}
	enc := EncodeRecord(r)
	at := len(enc) - crcSize - 2 // inside the value "00-abc-01"
	bad := append([]byte(nil), enc...)
	bad[at] ^= 0x01
	_, err := DecodeRecord(1, bad)
	require.ErrorIs(t, err, ErrRecord)
	require.ErrorContains(t, err, "checksum mismatch")
	require.Equal(t, uint64(1), AppendedBytes(enc))
}

// Header maps msgpack allows but EncodeRecord never writes are refused even
// under a valid checksum, and a declared count larger than the bytes left
// allocates nothing.
func TestDecodeRecordRejectsNonCanonicalHeaders(t *testing.T) {
	base := EncodeRecord(Record{Payload: []byte("p")})
	body := append([]byte(nil), base[:len(base)-crcSize]...)
	body[0] = envArrayHeaders
	seal := func(h ...byte) []byte {
		return reseal(append(append(append([]byte(nil), body...), h...), 0xce, 0, 0, 0, 0))
	}
	for name, h := range map[string][]byte{
		"empty map":         {0x80},
		"no map":            {},
		"keys out of order": {0x82, 0xa1, 'b', 0xa0, 0xa1, 'a', 0xa0},
		"duplicate key":     {0x82, 0xa1, 'a', 0xa0, 0xa1, 'a', 0xa0},
		"map16 for 1":       {0xde, 0, 1, 0xa1, 'a', 0xa0},
		"str8 for short":    {0x81, 0xd9, 1, 'a', 0xa0},
		"bin value":         {0x81, 0xa1, 'a', 0xc4, 0},
		"trailing byte":     {0x81, 0xa1, 'a', 0xa0, 0xc0},
		"huge count":        {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa0, 0xa0},
		"short value":       {0x81, 0xa1, 'a', 0xa5, 'x'},
	} {
		_, err := DecodeRecord(1, seal(h...))
		require.ErrorIs(t, err, ErrRecord, name)
	}
	huge := seal(0xdf, 0x00, 0x10, 0x00, 0x00, 0xa0, 0xa0) // 1M entries declared
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_, _ = DecodeRecord(1, huge)
	}
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(10<<10), "allocated on the declared count")
	r, err := DecodeRecord(1, seal(0x81, 0xa1, 'a', 0xa0))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": ""}, r.Headers)
}
