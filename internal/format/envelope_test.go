package format

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/store"
)

// A run record that fails its checksum goes to the dead letters as the
// envelope of its fields as read, with the complement of their checksum:
// it reads as corrupt, and its ID, time and payload can still be read from
// it without checking, as from a damaged format 1 envelope. (It was the
// run record's raw bytes: the torture test then found an undecodable dead
// letter with no ID it could match, and counted the event lost.)
func TestEnvelopeOfADamagedRunRecord(t *testing.T) {
	uid := [8]byte{7, 7, 7, 7, 7, 7, 7, 7}
	const key = 40
	base := time.Unix(1_700_000_000, 0).UnixNano()
	evs := []RunEvent{
		{ID: EventID(uid, key), Time: base, Key: "k", Payload: []byte("zero")},
		{ID: EventID(uid, key+1), Time: base + 5, Key: "k", Payload: []byte("one-payload"), Headers: map[string]string{"h": "v"}},
		{ID: EventID([8]byte{1}, 3), Time: base + 9, Key: "k", Payload: []byte("requeued")},
	}
	v := AppendRun(nil, uid, key, evs)
	for i := range evs {
		val := ParseValue(uid, key, v, true, 0)
		start, end, ok := val.RecordSpan(i)
		require.True(t, ok)
		damaged := append([]byte(nil), v...)
		damaged[end-1] ^= 0x01 // the record's checksum
		_ = start
		val = ParseValue(uid, key, damaged, true, 0)
		_, err := val.Event(i)
		require.ErrorIs(t, err, store.ErrCorrupt)

		env := val.Envelope(i)
		_, err = DecodeRecord(key+uint64(i), env)
		require.True(t, errors.Is(err, ErrRecord), "the envelope fails as the record did: %v", err)
		require.Equal(t, evs[i].ID[:], env[idOffset:idOffset+16], "its ID reads unchecked")
		require.Equal(t, evs[i].Time, RecordTime(env))
		require.True(t, bytes.Contains(env, evs[i].Payload))
		require.Equal(t, uint64(len(env)), val.DeadBytes(i))
		require.Equal(t, uint64(len(evs[i].Payload)), AppendedBytes(env), "what its append counted")

		// The sound records of the same value are whole envelopes.
		for j := range evs {
			if j == i {
				continue
			}
			r, err := DecodeRecord(key+uint64(j), val.Envelope(j))
			require.NoError(t, err)
			require.Equal(t, evs[j].ID, r.ID)
			require.Equal(t, evs[j].Payload, r.Payload)
			require.Equal(t, uint64(len(evs[j].Payload)), val.DeadBytes(j))
		}
	}
}
