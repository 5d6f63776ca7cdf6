package format

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/store"
)

var valUID = [8]byte{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8}

// valEvents returns n events for a run under key first: plain ones,
// one with headers, a requeued one (an ID of another seq) and an empty one.
func valEvents(first uint64, n int) []RunEvent {
	evs := make([]RunEvent, n)
	for i := range evs {
		seq := first + uint64(i)
		e := RunEvent{ID: EventID(valUID, seq), Time: 1_700_000_000_000_000_000 + int64(seq)*1000 - int64(i%3)*7,
			Key: fmt.Sprintf("k%d", seq%4), Payload: []byte(fmt.Sprintf("payload-%d", seq))}
		switch i % 5 {
		case 1:
			e.Headers = map[string]string{"traceparent": fmt.Sprint(seq), "": ""}
		case 2:
			e.ID = EventID(valUID, seq/2+1) // requeued from an earlier seq
			e.Time -= 1 << 40
		case 3:
			e.Key, e.Payload = "", nil
		}
		evs[i] = e
	}
	return evs
}

// valEnvelope returns the format 1 envelope of e stored under seq.
func valEnvelope(e RunEvent) []byte {
	return EncodeRecord(Record{ID: e.ID, Time: time.Unix(0, e.Time), Key: e.Key, Payload: e.Payload, Headers: e.Headers})
}

// requireSameEvent checks that got is e under seq.
func requireSameEvent(t *testing.T, seq uint64, e RunEvent, got Record, msg ...any) {
	t.Helper()
	require.Equal(t, seq, got.Seq, msg...)
	require.Equal(t, e.ID, got.ID, msg...)
	require.Equal(t, e.Time, got.Time.UnixNano(), msg...)
	require.Equal(t, e.Key, got.Key, msg...)
	require.True(t, bytes.Equal(e.Payload, got.Payload), msg...)
	if len(e.Headers) == 0 {
		require.Nil(t, got.Headers, msg...)
	} else {
		require.Equal(t, e.Headers, got.Headers, msg...)
	}
}

func requireCorrupt(t *testing.T, err error, msg ...any) {
	t.Helper()
	require.Error(t, err, msg...)
	require.ErrorIs(t, err, ErrRecord, msg...)
	require.ErrorIs(t, err, store.ErrCorrupt, msg...)
}

func TestValueEnvelopeForms(t *testing.T) {
	evs := valEvents(40, 5)
	for i, e := range evs {
		seq := 40 + uint64(i)
		env := valEnvelope(e)
		require.Equal(t, len(e.Headers) > 0, env[0] == envArrayHeaders)
		for _, runs := range []bool{false, true} {
			for _, span := range []uint64{0, 1, 2, 5000} {
				msg := fmt.Sprintf("event %d runs %v span %d", i, runs, span)
				v := ParseValue(valUID, seq, env, runs, span)
				require.Equal(t, 1, v.Len(), msg)
				require.Equal(t, seq, v.Last(), msg)
				require.False(t, v.IsRun(), msg)
				require.NoError(t, v.Err(), msg)
				got, err := v.Event(0)
				require.NoError(t, err, msg)
				requireSameEvent(t, seq, e, got, msg)
				require.Equal(t, e.Time, v.Time(0), msg)
				require.Equal(t, e.ID != EventID(valUID, seq), v.IsRequeued(0), msg)
				require.Equal(t, uint64(len(e.Payload)), v.AppendedBytes(0), msg)
				require.Equal(t, uint64(len(e.Payload)), v.StoredBytes(0), msg)
				out := v.Envelope(0)
				require.Equal(t, env, out, msg)
				out[0] ^= 0xff
				require.NotEqual(t, env[0], out[0], "Envelope aliases the value")
			}
		}
	}
}

func TestValueRun(t *testing.T) {
	for _, n := range []int{1, 2, 7, MaxRunEvents} {
		const key = 1 << 20
		evs := valEvents(key, n)
		raw := AppendRun(nil, valUID, key, evs)
		for _, span := range []uint64{0, 1, uint64(n), 1 << 30} {
			msg := fmt.Sprintf("n %d span %d", n, span)
			v := ParseValue(valUID, key, raw, true, span)
			require.True(t, v.IsRun(), msg)
			require.NoError(t, v.Err(), msg)
			require.Equal(t, n, v.Len(), msg)
			require.Equal(t, uint64(key+n-1), v.Last(), msg)
			for i, e := range evs {
				seq := uint64(key + i)
				got, err := v.Event(i)
				require.NoError(t, err, msg)
				requireSameEvent(t, seq, e, got, msg)
				require.Equal(t, e.Time, v.Time(i), msg)
				require.Equal(t, e.ID != EventID(valUID, seq), v.IsRequeued(i), msg)
				require.Equal(t, uint64(len(e.Payload)), v.AppendedBytes(i), msg)
				require.Equal(t, uint64(len(e.Payload)), v.StoredBytes(i), msg)
				// The dead-letter form decodes, as an envelope under the
				// same seq, to the same event, and is what format 1
				// would have stored.
				env := v.Envelope(i)
				require.Equal(t, valEnvelope(e), env, msg)
				dec, err := DecodeRecord(seq, env)
				require.NoError(t, err, msg)
				requireSameEvent(t, seq, e, dec, msg)
				require.Equal(t, e.Time, RecordTime(env))
				require.Equal(t, e.ID != EventID(valUID, seq), IsRequeued(seq, env))
				if n > 8 && i > 8 {
					break
				}
			}
		}
	}
}

// A run whose header fails spans what it may take and reads as corrupt;
// its bytes count once, for its first event.
func TestValueDamagedRunHeader(t *testing.T) {
	const key = 500
	raw := AppendRun(nil, valUID, key, valEvents(key, 4))
	damages := map[string]func([]byte) []byte{
		"header crc": func(v []byte) []byte { v[runCRCAt] ^= 1; return v },
		"count":      func(v []byte) []byte { v[3]++; return v },
		"flags":      func(v []byte) []byte { v[1] = 0x80; return resealRun(v) },
		"truncated":  func(v []byte) []byte { return v[:len(v)-1] },
		"short":      func(v []byte) []byte { return v[:runHeaderSize-1] },
		"version 1":  func(v []byte) []byte { v[0] = 1; return v },
		"only 2":     func(v []byte) []byte { return v[:1] },
	}
	for name, damage := range damages {
		bad := damage(bytes.Clone(raw))
		for _, span := range []uint64{0, 1, 3, 4, 9, MaxRunEvents, MaxRunEvents + 1, 1 << 40} {
			msg := fmt.Sprintf("%s span %d", name, span)
			v := ParseValue(valUID, key, bad, true, span)
			want := int(min(max(span, 1), MaxRunEvents))
			require.Equal(t, want, v.Len(), msg)
			require.Equal(t, key+uint64(want)-1, v.Last(), msg)
			if bad[0] == runVersion || span > 1 {
				require.True(t, v.IsRun(), msg)
				requireCorrupt(t, v.Err(), msg)
			}
			for i := range v.Len() {
				seq := key + uint64(i)
				got, err := v.Event(i)
				requireCorrupt(t, err, msg)
				require.Equal(t, Record{Seq: seq}, got, msg)
				if v.IsRun() {
					require.Zero(t, v.Time(i), msg)
					require.False(t, v.IsRequeued(i), msg)
				}
				share := uint64(0)
				if i == 0 {
					share = uint64(len(bad))
				}
				require.Equal(t, share, v.AppendedBytes(i), msg)
				require.Equal(t, share, v.StoredBytes(i), msg)
				if i == 0 {
					env := v.Envelope(0)
					require.Equal(t, bad, env, msg)
					if len(env) > 0 {
						env[0] ^= 0xff
						require.NotEqual(t, bad[0], env[0], "Envelope aliases the value")
					}
				} else {
					require.Nil(t, v.Envelope(i), msg)
				}
				if i > 10 {
					break
				}
			}
		}
	}
}

// A damaged record in a sound run fails only itself.
func TestValueDamagedRecordInRun(t *testing.T) {
	const key = 77
	evs := valEvents(key, 3)
	raw := AppendRun(nil, valUID, key, evs)
	r, err := ParseRun(valUID, key, raw)
	require.NoError(t, err)
	rec1 := r.record(1)
	at := len(raw) - len(r.recs) + r.end(0) // where record 1 starts in raw

	// A flipped payload byte: the layout still reads, the checksum fails.
	bad := bytes.Clone(raw)
	bad[at+len(rec1)-5] ^= 0x40
	v := ParseValue(valUID, key, bad, true, 10)
	require.NoError(t, v.Err())
	require.Equal(t, 3, v.Len())
	_, err = v.Event(1)
	requireCorrupt(t, err)
	require.Equal(t, uint64(len(evs[1].Payload)), v.AppendedBytes(1))
	require.Equal(t, uint64(len(rec1)), v.StoredBytes(1))
	// Its dead letter: the envelope of its fields as read, failing as the
	// record did (TestEnvelopeOfADamagedRunRecord has the rest).
	env := v.Envelope(1)
	_, err = DecodeRecord(key+1, env)
	requireCorrupt(t, err)
	require.Equal(t, evs[1].ID[:], env[idOffset:idOffset+16])
	require.Equal(t, uint64(len(env)), v.DeadBytes(1))
	for _, i := range []int{0, 2} {
		got, err := v.Event(i)
		require.NoError(t, err)
		requireSameEvent(t, key+uint64(i), evs[i], got)
		require.Equal(t, valEnvelope(evs[i]), v.Envelope(i))
	}

	// Bad record flags: the layout does not read.
	bad = bytes.Clone(raw)
	bad[at] = 0x80
	v = ParseValue(valUID, key, bad, true, 10)
	_, err = v.Event(1)
	requireCorrupt(t, err)
	require.Zero(t, v.Time(1))
	require.False(t, v.IsRequeued(1))
	require.Equal(t, uint64(len(rec1)), v.AppendedBytes(1))
	require.Equal(t, uint64(len(rec1)), v.StoredBytes(1))
	require.Equal(t, bad[at:at+len(rec1)], v.Envelope(1))
}

// A value of neither form is one corrupt event when it may take only one
// sequence number, else a damaged run.
func TestValueNeitherForm(t *testing.T) {
	for _, raw := range [][]byte{{}, {0x00}, {0x94, 1, 2}, bytes.Repeat([]byte{0xc4}, 40), {0x03, 0, 0, 1}} {
		for _, span := range []uint64{0, 1} {
			v := ParseValue(valUID, 9, raw, true, span)
			require.Equal(t, 1, v.Len())
			require.False(t, v.IsRun())
			_, err := v.Event(0)
			requireCorrupt(t, err)
			require.Equal(t, uint64(len(raw)), v.StoredBytes(0))
			require.Equal(t, uint64(len(raw)), v.AppendedBytes(0))
			require.True(t, bytes.Equal(raw, v.Envelope(0)))
		}
		v := ParseValue(valUID, 9, raw, true, 6)
		require.True(t, v.IsRun())
		requireCorrupt(t, v.Err())
		require.Equal(t, 6, v.Len())
		require.Equal(t, uint64(14), v.Last())
		for i := range 6 {
			_, err := v.Event(i)
			requireCorrupt(t, err)
		}
		require.Equal(t, uint64(len(raw)), v.StoredBytes(0))
		require.Zero(t, v.StoredBytes(5))
	}
}

// In a format 1 file every value is an envelope: a run (sound or not) is
// one corrupt envelope, whatever room it has.
func TestValueFormat1ReadsRunAsOneEnvelope(t *testing.T) {
	const key = 31
	raw := AppendRun(nil, valUID, key, valEvents(key, 5))
	for _, span := range []uint64{0, 1, 5, 100} {
		v := ParseValue(valUID, key, raw, false, span)
		require.Equal(t, 1, v.Len())
		require.Equal(t, uint64(key), v.Last())
		require.False(t, v.IsRun())
		require.NoError(t, v.Err())
		_, err := v.Event(0)
		requireCorrupt(t, err)
		require.Equal(t, uint64(len(raw)), v.StoredBytes(0))
		require.Equal(t, uint64(len(raw)), v.AppendedBytes(0))
		require.Equal(t, raw, v.Envelope(0))
	}
}

// checkValue is the fuzz property of ParseValue: nothing panics, Len is
// within bounds, every event either decodes (and then its envelope
// decodes to the same event) or fails with ErrRecord and
// store.ErrCorrupt, and the byte shares are consistent.
func checkValue(t *testing.T, key uint64, v []byte, runs bool, span uint64) {
	val := ParseValue(valUID, key, v, runs, span)
	require.GreaterOrEqual(t, val.Len(), 1)
	require.LessOrEqual(t, val.Len(), MaxRunEvents)
	require.Equal(t, key, val.Key)
	if !runs {
		require.Equal(t, 1, val.Len())
		require.False(t, val.IsRun())
	}
	if err := val.Err(); err != nil {
		requireCorrupt(t, err)
		require.True(t, val.IsRun())
	}
	var stored uint64
	for i := range val.Len() {
		_ = val.Time(i)
		_ = val.IsRequeued(i)
		_ = val.Last()
		appended, sb := val.AppendedBytes(i), val.StoredBytes(i)
		stored += sb
		env := val.Envelope(i)
		rec, err := val.Event(i)
		if err != nil {
			requireCorrupt(t, err)
			require.Equal(t, key+uint64(i), rec.Seq)
			continue
		}
		require.Equal(t, key+uint64(i), rec.Seq)
		require.Equal(t, uint64(len(rec.Payload)), sb)
		require.Equal(t, uint64(len(rec.Payload)), appended)
		require.Equal(t, rec.Time.UnixNano(), val.Time(i))
		require.Equal(t, rec.ID != EventID(valUID, rec.Seq), val.IsRequeued(i))
		dec, err := DecodeRecord(rec.Seq, env)
		require.NoError(t, err)
		require.Equal(t, rec, dec)
	}
	require.LessOrEqual(t, stored, uint64(len(v)))
}

func FuzzValue(f *testing.F) {
	for _, n := range []int{1, 3} {
		raw := AppendRun(nil, valUID, 100, valEvents(100, n))
		f.Add(uint64(100), raw, true, uint64(n))
		f.Add(uint64(100), raw[:len(raw)-1], true, uint64(4))
		f.Add(uint64(100), raw, false, uint64(2))
	}
	f.Add(uint64(5), valEnvelope(valEvents(5, 2)[1]), true, uint64(3))
	f.Add(uint64(5), valEnvelope(valEvents(5, 1)[0]), false, uint64(0))
	f.Add(uint64(1), []byte{}, true, uint64(7))
	f.Add(^uint64(0)-2, []byte{runVersion}, true, uint64(MaxRunEvents+5))
	f.Fuzz(func(t *testing.T, key uint64, v []byte, runs bool, span uint64) {
		checkValue(t, key, v, runs, span)
		if len(v) > 0 && v[0] == runVersion {
			checkValue(t, key, resealRun(v), runs, span)
		}
	})
}

// A run under a key so high that its events would pass the last sequence
// number (only damage puts one there: sequence numbers count up from 1) is
// damaged as a whole, and no value's span wraps past 2^64-1: Last is never
// below Key.
func TestValueRunPastTheLastSequenceNumber(t *testing.T) {
	const key = ^uint64(0) - 2 // room for 3 events
	raw := AppendRun(nil, valUID, key, valEvents(key, 5))
	v := ParseValue(valUID, key, raw, true, 5)
	requireCorrupt(t, v.Err())
	require.Equal(t, 3, v.Len())
	require.Equal(t, ^uint64(0), v.Last())
	_, err := v.Event(0)
	requireCorrupt(t, err)

	// A damaged header under such a key spans at most to 2^64-1.
	bad := append([]byte(nil), raw...)
	bad[2] ^= 0x40
	v = ParseValue(valUID, ^uint64(0), bad, true, 1<<30)
	requireCorrupt(t, v.Err())
	require.Equal(t, 1, v.Len())
	require.Equal(t, ^uint64(0), v.Last())

	v = ParseValue(valUID, 0, bad, true, 5) // and the cap does not wrap either
	require.Equal(t, 5, v.Len())

	// A run that ends exactly at 2^64-1 is sound.
	raw = AppendRun(nil, valUID, key, valEvents(key, 3))
	v = ParseValue(valUID, key, raw, true, 3)
	require.NoError(t, v.Err())
	require.Equal(t, ^uint64(0), v.Last())
}
