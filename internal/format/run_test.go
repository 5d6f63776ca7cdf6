package format

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/racecheck"
	"github.com/walbatch/walbatch/store"
)

var runUID = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}

const runFirst = 1000

// sampleRuns covers headers and none, requeued IDs, negative and huge time
// deltas, empty keys and payloads, long keys, and a large run of one.
func sampleRuns() map[string][]RunEvent {
	own := func(i int) [16]byte { return EventID(runUID, runFirst+uint64(i)) }
	return map[string][]RunEvent{
		"one empty": {{ID: own(0)}},
		"plain": {
			{ID: own(0), Time: 1700000000000000000, Key: "tenant-0001", Payload: []byte("hello")},
			{ID: own(1), Time: 1700000000000000100, Key: "tenant-0001", Payload: []byte("world")},
			{ID: own(2), Time: 1700000000000005000, Key: "", Payload: nil},
		},
		"headers": {
			{ID: own(0), Time: 5, Key: "k", Payload: []byte("p"), Headers: map[string]string{"traceparent": "00-0af7", "route": "eu", "": ""}},
			{ID: own(1), Time: 6, Key: "k", Headers: map[string]string{}},
			{ID: own(2), Time: 7, Headers: manyHeaders(17)},
		},
		"requeued": {
			{ID: EventID(runUID, 3), Time: 900, Key: "a", Payload: []byte("x")},
			{ID: EventID(runUID, 1), Time: 100, Key: "b", Payload: []byte("yy")},
			{ID: own(2), Time: -1 << 63, Key: "c"},
			{ID: [16]byte{9: 1}, Time: 1<<63 - 1, Key: "d"},
		},
		"long key":  {{ID: own(0), Key: strings.Repeat("k", 300), Payload: make([]byte, 200)}},
		"large one": {{ID: own(0), Time: 1, Key: "big", Payload: bytes.Repeat([]byte{0xab}, 70000)}},
		"wide offsets": {
			{ID: own(0), Payload: make([]byte, 40000)},
			{ID: own(1), Payload: make([]byte, 40000)},
		},
	}
}

func TestRunRoundTrip(t *testing.T) {
	for name, evs := range sampleRuns() {
		v := AppendRun([]byte("prefix"), runUID, runFirst, evs)
		require.Equal(t, "prefix", string(v[:6]), name)
		v = v[6:]
		require.Len(t, v, RunSize(runUID, runFirst, evs), name)

		r, err := ParseRun(runUID, runFirst, v)
		require.NoError(t, err, name)
		require.Equal(t, len(evs), r.Len(), name)
		require.Equal(t, evs[0].Time, r.FirstTime(), name)
		var payload uint64
		for i, e := range evs {
			payload += uint64(len(e.Payload))
			got, err := r.Event(i)
			require.NoError(t, err, "%s %d", name, i)
			require.Equal(t, uint64(runFirst+i), got.Seq)
			require.Equal(t, e.ID, got.ID)
			require.Equal(t, e.Time, got.Time.UnixNano())
			require.Equal(t, e.Key, got.Key)
			require.True(t, bytes.Equal(e.Payload, got.Payload))
			require.Equal(t, len(e.Headers) == 0, got.Headers == nil)
			if len(e.Headers) > 0 {
				require.Equal(t, e.Headers, got.Headers)
			}
			key, err := r.Key(i)
			require.NoError(t, err)
			require.Equal(t, e.Key, string(key))
			pl, err := r.PayloadLen(i)
			require.NoError(t, err)
			require.Equal(t, len(e.Payload), pl)
		}
		require.Equal(t, payload, r.PayloadBytes(), name)
		recs, err := DecodeRun(runUID, runFirst, v)
		require.NoError(t, err, name)
		require.Len(t, recs, len(evs))
		require.Equal(t, v, AppendRun(nil, runUID, runFirst, runEvents(recs)), name)
	}
}

// runEvents turns decoded records back into AppendRun's input.
func runEvents(recs []Record) []RunEvent {
	evs := make([]RunEvent, len(recs))
	for i, r := range recs {
		evs[i] = RunEvent{ID: r.ID, Time: r.Time.UnixNano(), Key: r.Key, Payload: r.Payload, Headers: r.Headers}
	}
	return evs
}

func TestRunCompact(t *testing.T) {
	evs := []RunEvent{
		{ID: EventID(runUID, runFirst), Time: 10, Key: "k", Payload: []byte("p")},
		{ID: EventID(runUID, runFirst+1), Time: 9, Key: "k", Payload: []byte("p")},
	}
	v := AppendRun(nil, runUID, runFirst, evs)
	// header 20, offsets 2x2, two records of flags, delta, 1+1 key,
	// 1+1 payload, crc: no stored ID, one-byte delta (-1 zigzags to 1).
	require.Len(t, v, 20+4+2*(1+1+2+2+4))
	require.Zero(t, v[1], "narrow offsets")
	evs[1].ID = EventID(runUID, 5)
	require.Len(t, AppendRun(nil, runUID, runFirst, evs), len(v)+16)
}

// The hot path allocates nothing per event (the race detector's
// instrumentation allocates, so the count is checked without it).
func TestAppendRunAllocs(t *testing.T) {
	if racecheck.Enabled {
		t.Skip("allocation counts differ under -race")
	}
	evs := benchRunEvents(MaxRunEvents)
	buf := make([]byte, 0, RunSize(runUID, runFirst, evs))
	allocs := testing.AllocsPerRun(10, func() {
		buf = AppendRun(buf[:0], runUID, runFirst, evs)
	})
	require.Zero(t, allocs)
	v := AppendRun(nil, runUID, runFirst, evs)
	r, err := ParseRun(runUID, runFirst, v)
	require.NoError(t, err)
	allocs = testing.AllocsPerRun(10, func() {
		if _, err := ParseRun(runUID, runFirst, v); err != nil {
			panic(err)
		}
		for i := range r.Len() {
			if _, err := r.PayloadLen(i); err != nil {
				panic(err)
			}
			if _, err := r.Key(i); err != nil {
				panic(err)
			}
		}
	})
	require.Zero(t, allocs)
}

func TestRunRecordCRC(t *testing.T) {
	id := EventID(runUID, 77)
	tm := int64(-12345)
	pre := binary.BigEndian.AppendUint64(id[:], uint64(tm))
	body := []byte("some record bytes")
	require.Equal(t, crc32.Checksum(append(pre, body...), castagnoli), runRecordCRC(id, tm, body))
}

func TestAppendRunPanicsOnBadCount(t *testing.T) {
	require.Panics(t, func() { AppendRun(nil, runUID, 0, nil) })
	require.Panics(t, func() { AppendRun(nil, runUID, 0, make([]RunEvent, MaxRunEvents+1)) })
}

// A run read under another key or uid fails every record whose ID it
// implies, and only those; a stored (requeued) ID is independent of the key.
func TestRunWrongKey(t *testing.T) {
	evs := sampleRuns()["requeued"]
	v := AppendRun(nil, runUID, runFirst, evs)
	for _, read := range []struct {
		uid   [8]byte
		first uint64
	}{{runUID, runFirst + 1}, {[8]byte{8}, runFirst}} {
		r, err := ParseRun(read.uid, read.first, v)
		require.NoError(t, err)
		for i, e := range evs {
			_, err := r.Event(i)
			if e.ID == EventID(runUID, runFirst+uint64(i)) {
				require.ErrorIs(t, err, ErrRecord)
			} else {
				require.NoError(t, err)
			}
		}
	}
}

// Every single-bit flip is caught by the header's checksum (ParseRun fails)
// or by exactly the record it lands in, and the other records still decode.
func TestRunBitFlips(t *testing.T) {
	for _, name := range []string{"plain", "headers", "requeued"} {
		evs := sampleRuns()[name]
		v := AppendRun(nil, runUID, runFirst, evs)
		r, err := ParseRun(runUID, runFirst, v)
		require.NoError(t, err)
		recAt := len(v) - len(r.recs)
		for bit := range 8 * len(v) {
			bad := bytes.Clone(v)
			bad[bit/8] ^= 1 << (bit % 8)
			br, err := ParseRun(runUID, runFirst, bad)
			if bit/8 < recAt {
				require.ErrorIs(t, err, ErrRecord, "%s: bit %d in header or offsets", name, bit)
				require.ErrorIs(t, err, store.ErrCorrupt)
				continue
			}
			require.NoError(t, err, "%s: bit %d", name, bit)
			for i := range evs {
				start := recAt
				if i > 0 {
					start += r.end(i - 1)
				}
				_, err := br.Event(i)
				if bit/8 >= start && bit/8 < recAt+r.end(i) {
					require.ErrorIs(t, err, ErrRecord, "%s: bit %d, record %d", name, bit, i)
					require.ErrorIs(t, err, store.ErrCorrupt)
				} else {
					require.NoError(t, err, "%s: bit %d, record %d", name, bit, i)
				}
			}
		}
	}
}

func TestRunTruncated(t *testing.T) {
	for name, evs := range sampleRuns() {
		v := AppendRun(nil, runUID, runFirst, evs)
		for n := range len(v) {
			if len(v) > 1000 && n%97 != 0 && n < len(v)-100 {
				continue
			}
			_, err := ParseRun(runUID, runFirst, v[:n])
			require.ErrorIs(t, err, ErrRecord, "%s: %d bytes", name, n)
			require.ErrorIs(t, err, store.ErrCorrupt)
		}
	}
}

// resealRun rewrites v's header checksum, so that edits reach the checks
// behind it.
func resealRun(v []byte) []byte {
	if len(v) < runHeaderSize {
		return v
	}
	out := bytes.Clone(v)
	count := int(binary.BigEndian.Uint16(out[2:]))
	if len(out)-runHeaderSize < count*offsetWidth(out[1]) {
		return out
	}
	binary.BigEndian.PutUint32(out[runCRCAt:], runHeaderCRC(out, count, out[1]))
	return out
}

// Counts the bytes cannot hold, or the format forbids, are refused before
// anything depends on them, even under a valid header checksum.
func TestRunHostileCounts(t *testing.T) {
	v := AppendRun(nil, runUID, runFirst, sampleRuns()["plain"])
	for _, count := range []uint16{0, 4, MaxRunEvents + 1, 0xffff} {
		bad := bytes.Clone(v)
		binary.BigEndian.PutUint16(bad[2:], count)
		_, err := ParseRun(runUID, runFirst, resealRun(bad))
		require.ErrorIs(t, err, ErrRecord, "count %d", count)
	}
	// A header alone claiming the maximum count.
	h := bytes.Clone(v[:runHeaderSize])
	binary.BigEndian.PutUint16(h[2:], MaxRunEvents)
	_, err := ParseRun(runUID, runFirst, h)
	require.ErrorIs(t, err, ErrRecord)
}

// Encodings the parser could read but AppendRun never writes are refused:
// a run has exactly one encoding.
func TestRunRejectsNonCanonical(t *testing.T) {
	evs := []RunEvent{{ID: EventID(runUID, runFirst), Time: 3, Key: "k", Payload: []byte("p")}}
	v := AppendRun(nil, runUID, runFirst, evs)
	recAt := runHeaderSize + 2
	check := func(what string, bad []byte) {
		t.Helper()
		if r, err := ParseRun(runUID, runFirst, bad); err == nil {
			_, err = r.Event(0)
			require.ErrorIs(t, err, ErrRecord, what)
		} else {
			require.ErrorIs(t, err, ErrRecord, what)
		}
	}
	// withRecord replaces the record and fixes offsets and checksums.
	withRecord := func(flags byte, id []byte, t int64, mid []byte) []byte {
		rec := append([]byte{flags}, id...)
		rec = append(rec, mid...)
		var full [16]byte
		if id != nil {
			full = [16]byte(id)
		} else {
			full = EventID(runUID, runFirst)
		}
		rec = binary.BigEndian.AppendUint32(rec, runRecordCRC(full, t, rec))
		out := append(bytes.Clone(v[:recAt]), rec...)
		binary.BigEndian.PutUint16(out[runHeaderSize:], uint16(len(rec)))
		return resealRun(out)
	}
	require.Equal(t, v, withRecord(0, nil, 3, []byte{0, 1, 'k', 1, 'p'}), "the helper rebuilds the canonical run")
	check("wide offsets for a small run", func() []byte {
		out := append(bytes.Clone(v[:runHeaderSize]), 0, 0)
		out = append(out, v[runHeaderSize:]...)
		out[1] = runWideOffsets
		return resealRun(out)
	}())
	check("unknown header flag", func() []byte { b := bytes.Clone(v); b[1] = 2; return resealRun(b) }())
	check("bad version", func() []byte { b := bytes.Clone(v); b[0] = 1; return resealRun(b) }())
	check("long delta varint", withRecord(0, nil, 3, []byte{0x80, 0, 1, 'k', 1, 'p'}))
	check("nonzero first delta", withRecord(0, nil, 4, []byte{2, 1, 'k', 1, 'p'}))
	check("long key length", withRecord(0, nil, 3, []byte{0, 0x81, 0, 'k', 1, 'p'}))
	check("long payload length", withRecord(0, nil, 3, []byte{0, 1, 'k', 0x81, 0, 'p'}))
	own := EventID(runUID, runFirst)
	check("stored implied ID", withRecord(recID, own[:], 3, []byte{0, 1, 'k', 1, 'p'}))
	check("unknown record flag", withRecord(4, nil, 3, []byte{0, 1, 'k', 1, 'p'}))
	check("empty headers", withRecord(recHeaders, nil, 3, []byte{0, 1, 'k', 1, 'p', 0x80}))
	check("trailing bytes", withRecord(0, nil, 3, []byte{0, 1, 'k', 1, 'p', 0}))
	check("headers without flag", withRecord(0, nil, 3, []byte{0, 1, 'k', 1, 'p', 0x81, 0xa0, 0xa0}))
	check("headers flag without headers", withRecord(recHeaders, nil, 3, []byte{0, 1, 'k', 1, 'p'}))
	check("unsorted headers", withRecord(recHeaders, nil, 3, []byte{0, 1, 'k', 1, 'p', 0x82, 0xa1, 'b', 0xa0, 0xa1, 'a', 0xa0}))

	// payload-bytes that disagrees with the records: ParseRun cannot tell,
	// DecodeRun does.
	b := bytes.Clone(v)
	b[15]++
	b = resealRun(b)
	r, err := ParseRun(runUID, runFirst, b)
	require.NoError(t, err)
	_, err = r.Event(0)
	require.NoError(t, err)
	_, err = DecodeRun(runUID, runFirst, b)
	require.ErrorIs(t, err, ErrRecord)
	require.ErrorIs(t, err, store.ErrCorrupt)
}

func TestRunDecreasingOffsets(t *testing.T) {
	v := AppendRun(nil, runUID, runFirst, sampleRuns()["plain"])
	b := bytes.Clone(v)
	binary.BigEndian.PutUint16(b[runHeaderSize:], binary.BigEndian.Uint16(v[runHeaderSize+2:])+1)
	_, err := ParseRun(runUID, runFirst, resealRun(b))
	require.ErrorIs(t, err, ErrRecord)
	// An empty record (two equal offsets) parses, and fails only itself.
	b = bytes.Clone(v)
	binary.BigEndian.PutUint16(b[runHeaderSize+2:], binary.BigEndian.Uint16(v[runHeaderSize:]))
	r, err := ParseRun(runUID, runFirst, resealRun(b))
	require.NoError(t, err)
	_, err = r.Event(1)
	require.ErrorIs(t, err, ErrRecord)
	_, err = r.Key(1)
	require.ErrorIs(t, err, ErrRecord)
	_, err = r.PayloadLen(1)
	require.ErrorIs(t, err, ErrRecord)
	_, err = r.Event(0)
	require.NoError(t, err)
}
