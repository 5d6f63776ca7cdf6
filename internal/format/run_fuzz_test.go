package format

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/store"
)

// checkParseRun is the fuzz property: nothing panics, every rejection wraps
// ErrRecord and store.ErrCorrupt, the unchecked accessors agree with Event
// on every record Event accepts, and a run DecodeRun accepts is exactly
// what AppendRun makes of its events.
func checkParseRun(t *testing.T, v []byte) {
	r, err := ParseRun(runUID, runFirst, v)
	if err != nil {
		require.ErrorIs(t, err, ErrRecord)
		require.ErrorIs(t, err, store.ErrCorrupt)
		return
	}
	for i := range r.Len() {
		rec, err := r.Event(i)
		key, kerr := r.Key(i)
		pl, perr := r.PayloadLen(i)
		if err != nil {
			require.ErrorIs(t, err, ErrRecord)
			require.ErrorIs(t, err, store.ErrCorrupt)
			continue
		}
		require.NoError(t, kerr)
		require.NoError(t, perr)
		require.Equal(t, rec.Key, string(key))
		require.Equal(t, len(rec.Payload), pl)
	}
	recs, err := DecodeRun(runUID, runFirst, v)
	if err != nil {
		require.ErrorIs(t, err, ErrRecord)
		require.ErrorIs(t, err, store.ErrCorrupt)
		return
	}
	require.Equal(t, v, AppendRun(nil, runUID, runFirst, runEvents(recs)), "accepted a run that does not re-encode to the same bytes")
}

func FuzzParseRun(f *testing.F) {
	for _, evs := range sampleRuns() {
		v := AppendRun(nil, runUID, runFirst, evs)
		if len(v) > 1000 {
			continue // large seeds make the fuzzer crawl; "long key" covers multi-byte lengths
		}
		f.Add(v)
		f.Add(v[:len(v)-1])
		f.Add(v[:len(v)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{runVersion})
	f.Fuzz(func(t *testing.T, v []byte) {
		checkParseRun(t, v)
		checkParseRun(t, resealRun(v))
	})
}
