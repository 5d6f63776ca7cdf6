package walnats

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// cycleErr is an error whose Unwrap returns itself: errors.Is loops
// forever on it.
type cycleErr struct{}

func (*cycleErr) Error() string   { return "cycle" }
func (e *cycleErr) Unwrap() error { return e }

// panicUnwrap is an error whose Unwrap and Is methods panic.
type panicUnwrap struct{}

func (panicUnwrap) Error() string { return "panicky" }
func (panicUnwrap) Unwrap() error { panic("Unwrap called") }
func (panicUnwrap) Is(error) bool { panic("Is called") }

// An error of the user's body function (WithBody) that cycles or panics
// when unwrapped: the event's outcome is still the permanent ErrBody
// (message wraps a body function's error exactly so), and the dispatch
// goroutine neither hangs nor panics on it. A cycle under an error not
// known to be permanent reads as retryable.
func TestBodyFuncHostileErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		err       error
		permanent bool
	}{
		"cycle":        {fmt.Errorf("%w: %w", ErrBody, &cycleErr{}), true},
		"panic_unwrap": {fmt.Errorf("%w: %w", ErrBody, fmt.Errorf("encode: %w", panicUnwrap{})), true},
		"panic_is":     {fmt.Errorf("%w: %w", ErrBody, panicUnwrap{}), true},
		"not_body":     {&cycleErr{}, false},
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan any, 1)
			var got error
			go func() {
				defer func() { done <- recover() }()
				got = outcome(publishError("e1", "s", tc.err))
			}()
			select {
			case r := <-done:
				require.Nil(t, r, "panicked")
			case <-time.After(30 * time.Second): // a hang guard, not a speed limit
				t.Fatal("outcome never returned (an Unwrap cycle walked forever?)")
			}
			require.Equal(t, tc.permanent, dispatcher.IsPermanent(got))
		})
	}
}
