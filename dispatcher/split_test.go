package dispatcher

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// deliveredIDs returns the event IDs of the requests answered 2xx (accepted
// by accept), in order, checking each envelope on the way.
func deliveredIDs(t *testing.T, reqs []received, accepted func(n int, r received) bool) []string {
	t.Helper()
	var ids []string
	for n, r := range reqs {
		if !accepted(n, r) {
			continue
		}
		for _, ev := range decode(t, r.Body).Events {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}

func idsOf(b *Batch[click]) []string {
	ids := make([]string, len(b.Events))
	for i, ev := range b.Events {
		ids[i] = ev.ID
	}
	return ids
}

// bulky returns a batch whose events carry size bytes of hex data each,
// which gzip cannot shrink much. The data is the same on every run.
func bulky(id string, n, size int) *Batch[click] {
	b := makeBatch(id, n, 100)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range b.Events {
		raw := make([]byte, size/2+1)
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		b.Events[i].Value.User = hex.EncodeToString(raw)[:size]
	}
	return b
}

func TestHTTPSplitsABatchOverTheByteLimit(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			const limit = 1500
			rc := newReceiver(t, nil)
			opts := []HTTPOption{WithMaxBodyBytes(limit)}
			if gz {
				opts = append(opts, WithGzip())
			}
			h := newHTTP(t, rc.URL, opts...)
			b := bulky("big", 64, 120)
			require.NoError(t, h.Dispatch(context.Background(), b))

			reqs := rc.requests()
			require.Greater(t, len(reqs), 1)
			keys := map[string]bool{}
			for _, r := range reqs {
				require.LessOrEqual(t, len(r.Wire), limit)
				wb := decode(t, r.Body)
				first, last := wb.Events[0].Seq, wb.Events[len(wb.Events)-1].Seq
				key := r.Header.Get("Idempotency-Key")
				require.Equal(t, fmt.Sprintf("big:%d-%d", first, last), key)
				require.False(t, keys[key], "parts have distinct keys")
				keys[key] = true
			}
			require.Equal(t, idsOf(b), deliveredIDs(t, reqs, func(int, received) bool { return true }),
				"every event exactly once, in order")
		})
	}
}

func TestHTTP413SplitsDownToSingleEvents(t *testing.T) {
	const accepts = 700 // the receiver refuses bodies larger than this
	rc := newReceiver(t, func(w http.ResponseWriter, r *received, _ int) {
		if len(r.Wire) > accepts {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHTTP(t, rc.URL)
	b := bulky("b413", 20, 100)
	require.NoError(t, h.Dispatch(context.Background(), b))
	reqs := rc.requests()
	require.Greater(t, len(reqs[0].Wire), accepts, "the whole batch was tried first")
	require.Equal(t, "b413", reqs[0].Header.Get("Idempotency-Key"))
	ok := func(_ int, r received) bool { return len(r.Wire) <= accepts }
	require.Equal(t, idsOf(b), deliveredIDs(t, reqs, ok), "every event accepted exactly once, in order")
}

func TestHTTP413ForASingleEventIsPermanent(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *received, _ int) {
		if strings.Contains(string(r.Body), "ev-102") {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHTTP(t, rc.URL)
	b := bulky("b", 4, 10) // ev-100 .. ev-103; the receiver never takes ev-102
	err := h.Dispatch(context.Background(), b)
	require.True(t, IsPermanent(err))
	n, ok := Delivered(err, 4)
	require.True(t, ok)
	require.Equal(t, 2, n)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusRequestEntityTooLarge, se.Status)
	require.NotContains(t, deliveredIDs(t, rc.requests(), func(_ int, r received) bool {
		return !strings.Contains(string(r.Body), "ev-102")
	}), "ev-103", "nothing after the refused event is sent")
}

func TestHTTPSplitPartialFailureReportsTheDeliveredPrefix(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *received, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHTTP(t, rc.URL, WithMaxBodyBytes(2000))
	b := bulky("bp", 32, 100)
	err := h.Dispatch(context.Background(), b)
	require.Error(t, err)
	require.False(t, IsPermanent(err))
	after, ok := RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, "3s", after.String())
	reqs := rc.requests()
	require.Len(t, reqs, 2, "after a failure the remaining parts are not sent")
	first := decode(t, reqs[0].Body).Events
	n, ok := Delivered(err, len(b.Events))
	require.True(t, ok)
	require.Equal(t, len(first), n)

	// The processor retries the rest, keeping the batch ID.
	rest := &Batch[click]{ID: b.ID, Stream: b.Stream, Attempt: 2, Events: b.Events[n:]}
	require.NoError(t, h.Dispatch(context.Background(), rest))
	all := rc.requests()
	require.Equal(t, idsOf(b), deliveredIDs(t, all, func(i int, _ received) bool { return i != 1 }))
}

func TestHTTPSingleEventOverTheByteLimitIsPermanent(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHTTP(t, rc.URL, WithMaxBodyBytes(400))

	err := h.Dispatch(context.Background(), bulky("one", 1, 1000))
	require.True(t, IsPermanent(err))
	require.ErrorIs(t, err, ErrBodyTooLarge)
	require.Contains(t, err.Error(), "event ev-100")
	require.Empty(t, rc.requests(), "never sent")

	b := bulky("mixed", 4, 10)
	b.Events[2].Value.User = strings.Repeat("z", 1000)
	err = h.Dispatch(context.Background(), b)
	require.ErrorIs(t, err, ErrBodyTooLarge)
	n, ok := Delivered(err, 4)
	require.True(t, ok)
	require.Equal(t, 2, n)
	require.Equal(t, idsOf(b)[:2], deliveredIDs(t, rc.requests(), func(int, received) bool { return true }))
}

func TestHTTPValueThatCannotBeEncodedIsPermanent(t *testing.T) {
	rc := newReceiver(t, nil)
	h, err := NewHTTP[any](rc.URL)
	require.NoError(t, err)
	t.Cleanup(h.CloseIdleConnections)
	b := &Batch[any]{ID: "b", Events: []Event[any]{
		{ID: "a", Seq: 1, Value: 1}, {ID: "b", Seq: 2, Value: "two"}, {ID: "c", Seq: 3, Value: make(chan int)}, {ID: "d", Seq: 4, Value: 4},
	}}
	err = h.Dispatch(context.Background(), b)
	require.True(t, IsPermanent(err))
	require.Contains(t, err.Error(), "event c")
	n, ok := Delivered(err, 4)
	require.True(t, ok)
	require.Equal(t, 2, n)
	reqs := rc.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "b:1-2", reqs[0].Header.Get("Idempotency-Key"))
}
