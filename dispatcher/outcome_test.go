package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOutcomesWithoutACauseDoNotPanic reads every outcome a careless
// dispatcher can build: nil causes, zero values, nil pointers, nonsense
// counts and delays. Each must read without a panic, and keep its class.
func TestOutcomesWithoutACauseDoNotPanic(t *testing.T) {
	var (
		nilPerm    *PermanentError
		nilRetry   *RetryableError
		nilPartial *PartialError
		nilStatus  *StatusError
	)
	for _, tc := range []struct {
		name      string
		err       error
		text      string
		permanent bool
		partial   bool
		delivered int
	}{
		{name: "Permanent(nil)", err: Permanent(nil), text: "permanent: (no reason given)", permanent: true},
		{name: "Retryable(nil, 0)", err: Retryable(nil, 0), text: "(no reason given)"},
		{name: "Retryable(nil, 5s)", err: Retryable(nil, 5*time.Second), text: "(no reason given) (retry after 5s)"},
		{name: "Retryable(nil, -1)", err: Retryable(nil, -1), text: "(no reason given)"},
		{name: "zero PermanentError", err: &PermanentError{}, text: "permanent: (no reason given)", permanent: true},
		{name: "zero RetryableError", err: &RetryableError{}, text: "(no reason given)"},
		{name: "zero PartialError", err: &PartialError{}, text: "first 0 events delivered, rest failed: (no reason given)", partial: true},
		{name: "zero StatusError", err: &StatusError{}, text: "HTTP 0"},
		{name: "nil *PermanentError", err: nilPerm, text: "permanent: (no reason given)", permanent: true},
		{name: "nil *RetryableError", err: nilRetry, text: "retryable failure (no reason given)"},
		{name: "nil *PartialError", err: nilPartial, text: "partial delivery (no reason given)", partial: true},
		{name: "nil *StatusError", err: nilStatus, text: "HTTP error (no reason given)"},
		{name: "Permanent(nil *PermanentError)", err: Permanent(nilPerm), text: "permanent: permanent: (no reason given)", permanent: true},
		{name: "Permanent(empty message)", err: Permanent(errors.New("")), text: "permanent: (no reason given)", permanent: true},
		{name: "Retryable(nil *StatusError)", err: Retryable(nilStatus, time.Second), text: "HTTP error (no reason given) (retry after 1s)"},
		{name: "Partial(1, Permanent(nil))", err: Partial(1, Permanent(nil)), text: "first 1 events delivered, rest failed: permanent: (no reason given)", permanent: true, partial: true, delivered: 1},
		{name: "Partial(2, Retryable(nil, 0))", err: Partial(2, Retryable(nil, 0)), text: "first 2 events delivered, rest failed: (no reason given)", partial: true, delivered: 2},
		{name: "Partial(-7, nil)", err: Partial(-7, nil), text: "first -7 events delivered, rest failed: dispatcher: partial delivery", partial: true},
		{name: "Partial(MaxInt, nil)", err: Partial(math.MaxInt, nil), text: fmt.Sprintf("first %d events delivered, rest failed: dispatcher: partial delivery", math.MaxInt), partial: true, delivered: 3},
		{name: "Partial(MinInt, nil *PartialError)", err: Partial(math.MinInt, nilPartial), text: fmt.Sprintf("first %d events delivered, rest failed: partial delivery (no reason given)", math.MinInt), partial: true},
		{name: "wrapped Permanent(nil)", err: fmt.Errorf("sink: %w", Permanent(nil)), text: "sink: permanent: (no reason given)", permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.text, tc.err.Error())
			require.Equal(t, tc.permanent, IsPermanent(tc.err))
			n, ok := Delivered(tc.err, 3)
			require.Equal(t, tc.partial, ok)
			require.Equal(t, tc.delivered, n)
			after, ok := RetryAfter(tc.err)
			require.GreaterOrEqual(t, after, time.Duration(0))
			require.Equal(t, after > 0, ok)
			// Walking the chain reads every link without a panic.
			require.False(t, errors.Is(tc.err, errSplit))
			var se *StatusError
			_ = errors.As(tc.err, &se)
			_ = fmt.Sprintf("%v %+v %s", tc.err, tc.err, tc.err)
		})
	}
}

// Dispatchers that cannot run say so with a permanent ErrInvalidCall
// instead of a panic.
func TestDispatchersThatCannotRunReturnErrInvalidCall(t *testing.T) {
	h := newHTTP(t, "http://127.0.0.1:1/")
	var nilHTTP *HTTP[click]
	for name, call := range map[string]func() error{
		"nil Func":  func() error { return Func[click](nil).Dispatch(context.Background(), makeBatch("b", 1, 1)) },
		"zero HTTP": func() error { return new(HTTP[click]).Dispatch(context.Background(), makeBatch("b", 1, 1)) },
		"nil *HTTP": func() error { return nilHTTP.Dispatch(context.Background(), makeBatch("b", 1, 1)) },
		//lint:ignore SA1012 a nil context is the point of the test
		"nil context": func() error { return h.Dispatch(nil, makeBatch("b", 1, 1)) },
		"nil batch":   func() error { return h.Dispatch(context.Background(), nil) },
	} {
		err := call()
		require.ErrorIs(t, err, ErrInvalidCall, name)
		require.True(t, IsPermanent(err), name)
	}
	new(HTTP[click]).CloseIdleConnections()
	nilHTTP.CloseIdleConnections()
	var nilBatch *Batch[click]
	require.Zero(t, nilBatch.Bytes())
	for _, f := range []BodyFormat{BodyEnvelope, BodyJSONArray, BodyNDJSON} {
		_, err := EncodeBody(f, nilBatch)
		require.ErrorIs(t, err, ErrInvalidCall)
		_, err = NewEventFactory[click](f)("http://h/", nil)
		require.ErrorIs(t, err, ErrInvalidCall)
	}
}
