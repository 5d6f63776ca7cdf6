package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests hand the package's outcome helpers and the HTTP dispatcher
// errors a careless or hostile dispatcher, factory, transport or value
// would: each call must return, and must not panic.

// cycleErr is an error whose Unwrap returns itself: errors.Is and
// errors.As loop forever on it when nothing in it matches.
type cycleErr struct{}

func (*cycleErr) Error() string   { return "cycle" }
func (e *cycleErr) Unwrap() error { return e }

// joinCycle is an Unwrap() []error tree holding itself.
type joinCycle struct{}

func (*joinCycle) Error() string     { return "join cycle" }
func (e *joinCycle) Unwrap() []error { return []error{e} }

// panicUnwrap is an error whose Unwrap, Is and As methods panic.
type panicUnwrap struct{}

func (panicUnwrap) Error() string { return "panicky" }
func (panicUnwrap) Unwrap() error { panic("Unwrap called") }
func (panicUnwrap) Is(error) bool { panic("Is called") }
func (panicUnwrap) As(any) bool   { panic("As called") }

// panicError is an error whose Error panics (a typed nil pointer of a type
// that reads its fields behaves so).
type panicError struct{ msg *string }

func (e *panicError) Error() string { return *e.msg }

// returns runs f on a goroutine of its own and fails the test if it
// panics or has not returned after 30 s: the bound only catches an
// endless loop, it never fires on a correct implementation.
func returns(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	select {
	case rec := <-done:
		require.Nil(t, rec, "%s panicked", what)
	case <-time.After(30 * time.Second): // a hang guard, not a speed limit
		t.Fatalf("%s never returned (an Unwrap cycle walked forever?)", what)
	}
}

// hostileErrors are the errors each helper must survive, wrapped as a
// dispatcher would.
func hostileErrors() map[string]error {
	return map[string]error{
		"cycle":         &cycleErr{},
		"wrapped_cycle": fmt.Errorf("sink: %w", &cycleErr{}),
		"join_cycle":    errors.Join(errors.New("a"), &joinCycle{}),
		"panic_unwrap":  fmt.Errorf("sink: %w", panicUnwrap{}),
		"panic_methods": panicUnwrap{},
		"deep":          deep(1000, errors.New("bottom")),
	}
}

// deep is err wrapped n times.
func deep(n int, err error) error {
	for range n {
		err = fmt.Errorf("w: %w", err)
	}
	return err
}

// IsPermanent, RetryAfter, Delivered and EventOutcomes return on an
// Unwrap cycle, a huge tree and methods that panic, finding nothing there.
func TestOutcomeHelpersOnHostileErrors(t *testing.T) {
	for name, err := range hostileErrors() {
		t.Run(name, func(t *testing.T) {
			returns(t, "IsPermanent", func() { require.False(t, IsPermanent(err)) })
			returns(t, "RetryAfter", func() {
				_, ok := RetryAfter(err)
				require.False(t, ok)
			})
			returns(t, "Delivered", func() {
				_, ok := Delivered(err, 3)
				require.False(t, ok)
			})
			returns(t, "EventOutcomes", func() {
				_, ok := EventOutcomes(err, 3)
				require.False(t, ok)
			})
		})
	}
}

// What comes before the trap in errors.As order is still found (the other
// tests of this package show normal errors read as before).
func TestOutcomeHelpersFindWhatComesFirst(t *testing.T) {
	returns(t, "helpers", func() {
		require.True(t, IsPermanent(fmt.Errorf("x: %w", Permanent(&cycleErr{}))))
		after, ok := RetryAfter(Retryable(panicUnwrap{}, time.Second))
		require.True(t, ok)
		require.Equal(t, time.Second, after)
		n, ok := Delivered(Partial(2, &cycleErr{}), 3)
		require.True(t, ok)
		require.Equal(t, 2, n)
		outs, ok := EventOutcomes(errors.Join(&EventErrors{Errs: []error{nil, &cycleErr{}}}, &joinCycle{}), 3)
		require.True(t, ok)
		require.Len(t, outs, 3)
		require.True(t, IsPermanent(errors.Join(Permanent(nil), &joinCycle{})))
		require.False(t, IsPermanent(errors.Join(&joinCycle{}, Permanent(nil))), "the cycle fills the 64 errors looked at before the second child")
	})
}

// The HTTP dispatcher returns, without panicking, an error a caller can
// read, when its event factory, its client's transport or an event's
// value hands it such an error.
func TestHTTPOnHostileErrors(t *testing.T) {
	rc := newReceiver(t, nil)
	for name, err := range map[string]error{
		"cycle":        &cycleErr{},
		"panic_unwrap": fmt.Errorf("w: %w", panicUnwrap{}),
		"panic_error":  &panicError{},
		"deep":         deep(1000, errors.New("bottom")),
	} {
		t.Run(name, func(t *testing.T) {
			dispatchers := map[string]*HTTP[click]{
				"factory": newHTTP(t, rc.URL, WithEventFactory(func(string, *Batch[click]) (*LogEvent, error) { return nil, err })),
				"transport": newHTTP(t, rc.URL, WithClient(&http.Client{Transport: roundTrip(func(*http.Request) (*http.Response, error) {
					return nil, err
				})})),
			}
			for via, h := range dispatchers {
				for _, n := range []int{1, 3} {
					returns(t, fmt.Sprintf("Dispatch of %d events, error via the %s", n, via), func() {
						got := h.Dispatch(context.Background(), makeBatch("b", n, 1))
						require.Error(t, got)
						require.NotEmpty(t, got.Error())
						require.False(t, IsPermanent(got), "an unknown error is retryable")
					})
				}
			}
			hv, herr := NewHTTP[any](rc.URL)
			require.NoError(t, herr)
			returns(t, "Dispatch of a value whose MarshalJSON fails so", func() {
				b := &Batch[any]{ID: "v", Events: []Event[any]{{ID: "e1", Value: click{User: "ok"}}, {ID: "e2", Value: badJSON{err}}}}
				got := hv.Dispatch(context.Background(), b)
				require.True(t, IsPermanent(got), "a value that cannot be encoded is permanent: %v", got)
				n, ok := Delivered(got, 2)
				require.True(t, ok)
				require.Equal(t, 1, n, "the event before it was delivered")
			})
		})
	}
}

// badJSON is a value whose MarshalJSON fails with err.
type badJSON struct{ err error }

func (v badJSON) MarshalJSON() ([]byte, error) { return nil, v.err }

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
