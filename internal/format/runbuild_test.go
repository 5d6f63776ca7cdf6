package format

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The writer's runs (RunBuilder, from producers' bodies) are the runs
// AppendRun encodes for the same events, and Fits cuts them within the
// bounds.
func TestRunBuilderMatchesAppendRun(t *testing.T) {
	uid := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	const first = 1000
	var evs []RunEvent
	var b RunBuilder
	b.Reset(uid, first)
	base := int64(1_700_000_000_000_000_000)
	for i := range 300 {
		e := RunEvent{Time: base + int64(i*3500) - int64(i%7)*10_000, Key: fmt.Sprintf("k%d", i%3),
			Payload: bytes.Repeat([]byte{byte(i)}, 1+i*37%700)}
		if i%5 == 0 {
			e.Headers = map[string]string{"trace": fmt.Sprint(i), "a": "b"}
		}
		body := AppendRecordBody(nil, e.Time, e.Key, e.Payload, e.Headers)
		e.ID = EventID(uid, first+uint64(len(evs)))
		if i%4 == 1 {
			// A requeued event: a dead letter's whole envelope, its own ID.
			e.ID = EventID([8]byte{9}, uint64(i))
			env := EncodeRecord(Record{ID: e.ID, Time: time.Unix(0, e.Time), Key: e.Key, Payload: e.Payload, Headers: e.Headers})
			body = env[:len(env)-CRCSize]
		}
		if !b.Fits(body) {
			break
		}
		evs = append(evs, e)
		b.Add(body)
	}
	require.Less(t, len(evs), 300, "the byte bound cut the run")
	got := b.AppendTo(nil)
	want := AppendRun(nil, uid, first, evs)
	require.Equal(t, want, got)
	require.Equal(t, len(got), b.Size())
	require.LessOrEqual(t, len(got), MaxRunBytes)
	recs, err := DecodeRun(uid, first, got)
	require.NoError(t, err)
	require.Len(t, recs, len(evs))

	// MaxRunEvents bounds the count; one event larger than MaxRunBytes is
	// a run of its own, with wide offsets.
	b.Reset(uid, 1)
	small := AppendRecordBody(nil, base, "", []byte("x"), nil)
	for b.Fits(small) {
		b.Add(small)
	}
	require.Equal(t, MaxRunEvents, b.Len())
	b.Reset(uid, 1)
	big := AppendRecordBody(nil, base, "", make([]byte, MaxRunBytes+10), nil)
	require.True(t, b.Fits(big))
	b.Add(big)
	require.False(t, b.Fits(small))
	v := b.AppendTo(nil)
	require.Equal(t, len(v), b.Size())
	_, err = DecodeRun(uid, 1, v)
	require.NoError(t, err)
}
