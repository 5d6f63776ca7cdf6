package format

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/store"
)

func sampleRecords() []Record {
	id := EventID([8]byte{1, 2, 3, 4, 5, 6, 7, 8}, 42)
	return []Record{
		{ID: id, Time: time.Unix(0, 0)},
		{ID: id, Time: time.Unix(1700000000, 123), Key: "k", Payload: []byte("hello")},
		{ID: id, Time: time.Unix(0, -1), Key: strings.Repeat("k", 31), Payload: make([]byte, 255)},
		{ID: id, Time: time.Unix(0, 1<<62), Key: strings.Repeat("k", 32), Payload: make([]byte, 256)},
		{ID: id, Time: time.Unix(5, 0), Key: strings.Repeat("k", 256), Payload: make([]byte, 70000)},
		{Key: "\xff\xfe not utf-8", Payload: []byte{0xc1}},
		{ID: id, Time: time.Unix(6, 0), Key: "k", Payload: []byte("p"), Headers: map[string]string{
			"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "route": "eu", "": ""}},
		{ID: id, Headers: map[string]string{"a": strings.Repeat("v", 40), strings.Repeat("k", 300): "x"}},
		{ID: id, Headers: manyHeaders(17)},
	}
}

// reseal replaces data's trailing checksum with the right one, so that
// mutations reach the parser behind the checksum.
func reseal(data []byte) []byte {
	if len(data) < crcSize {
		return data
	}
	out := append([]byte(nil), data...)
	body := out[:len(out)-crcSize]
	out[len(body)] = 0xce
	binary.BigEndian.PutUint32(out[len(body)+1:], crc32.Checksum(body, castagnoli))
	return out
}

// checkDecode is the fuzz property: DecodeRecord never panics, rejects with
// ErrRecord and store.ErrCorrupt, and whatever it accepts is exactly what
// EncodeRecord makes of the decoded record.
func checkDecode(t *testing.T, data []byte) {
	r, err := DecodeRecord(7, data)
	if err != nil {
		require.ErrorIs(t, err, ErrRecord)
		require.ErrorIs(t, err, store.ErrCorrupt)
		return
	}
	require.Equal(t, uint64(7), r.Seq)
	require.Equal(t, data, EncodeRecord(r), "accepted a record that does not re-encode to the same bytes")
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		if len(r.Payload) > 1000 {
			continue // large seeds make minimization crawl; small ones cover every header form but the 32-bit one
		}
		enc := EncodeRecord(r)
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
		f.Add(enc[:len(enc)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x95})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		checkDecode(t, reseal(data))
	})
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		enc := EncodeRecord(r)
		require.Len(t, enc, RecordSize(len(r.Key), len(r.Payload), HeadersSize(r.Headers)))
		got, err := DecodeRecord(9, enc)
		require.NoError(t, err)
		require.Equal(t, r.ID, got.ID)
		require.Equal(t, r.Time.UnixNano(), got.Time.UnixNano())
		require.Equal(t, r.Key, got.Key)
		require.True(t, bytes.Equal(r.Payload, got.Payload))

		require.Equal(t, len(r.Headers) == 0, got.Headers == nil)
		if len(r.Headers) > 0 {
			require.Equal(t, r.Headers, got.Headers)
		}

		// Any msgpack decoder reads the envelope: five elements, six with
		// headers (before the checksum).
		var v []interface{}
		require.NoError(t, msgpack.Unmarshal(enc, &v))
		if len(r.Headers) > 0 {
			require.Len(t, v, 6)
			require.Len(t, v[4], len(r.Headers))
			v = append(v[:4], v[5])
		}
		require.Len(t, v, 5)
		require.Equal(t, r.ID[:], v[0])
		require.EqualValues(t, r.Time.UnixNano(), v[1])
		require.Equal(t, r.Key, v[2])
		require.Equal(t, len(r.Payload), len(v[3].([]byte)))
		require.EqualValues(t, crc32.Checksum(enc[:len(enc)-crcSize], castagnoli), v[4])

		// Any flipped bit is caught.
		for i := range enc {
			bad := append([]byte(nil), enc...)
			bad[i] ^= 0x10
			_, err := DecodeRecord(9, bad)
			require.ErrorIs(t, err, ErrRecord, "flip at %d", i)
		}
	}
}

// Headers msgpack allows but EncodeRecord never writes (a longer length
// form than needed) are refused even with a valid checksum: a record has
// exactly one encoding.
func TestDecodeRecordRejectsNonCanonical(t *testing.T) {
	enc := EncodeRecord(Record{Key: "k", Payload: []byte("p")})
	keyAt := idOffset + 16 + 9
	// fixstr "k" (0xa1 'k') as str8 (0xd9 0x01 'k').
	long := append(append(append([]byte(nil), enc[:keyAt]...), 0xd9, 1), enc[keyAt+1:]...)
	_, err := DecodeRecord(1, reseal(long))
	require.ErrorIs(t, err, ErrRecord)
	// bin8 payload as bin16.
	binAt := keyAt + 2
	long = append(append(append([]byte(nil), enc[:binAt]...), 0xc5, 0, 1), enc[binAt+2:]...)
	_, err = DecodeRecord(1, reseal(long))
	require.ErrorIs(t, err, ErrRecord)
}
