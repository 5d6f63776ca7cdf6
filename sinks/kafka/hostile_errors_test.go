package kafka

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
)

// cycleErr is an error whose Unwrap returns itself (a user's dialer or
// hook could hand the client one, and the client wraps it in a record's
// error): errors.As loops forever on it.
type cycleErr struct{}

func (*cycleErr) Error() string   { return "cycle" }
func (e *cycleErr) Unwrap() error { return e }

// panicUnwrap is an error whose Unwrap and As methods panic.
type panicUnwrap struct{}

func (panicUnwrap) Error() string { return "panicky" }
func (panicUnwrap) Unwrap() error { panic("Unwrap called") }
func (panicUnwrap) As(any) bool   { panic("As called") }

// IsPermanent and a record's outcome return, without panicking, on an
// Unwrap cycle or methods that panic, reading them as retryable; a
// *kerr.Error before the trap is still found.
func TestIsPermanentOnHostileErrors(t *testing.T) {
	rec := &kgo.Record{Topic: "t"}
	for name, tc := range map[string]struct {
		err       error
		permanent bool
	}{
		"cycle":             {&cycleErr{}, false},
		"last_err_cycle":    {fmt.Errorf("%w, last err: %w", kgo.ErrRecordRetries, &cycleErr{}), false},
		"panic_unwrap":      {fmt.Errorf("dial: %w", panicUnwrap{}), false},
		"permanent_first":   {fmt.Errorf("%w: %w", kerr.MessageTooLarge, &cycleErr{}), true},
		"joined_after_trap": {errors.Join(panicUnwrap{}, kerr.InvalidRecord), true},
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan any, 1)
			var perm, outPerm bool
			go func() {
				defer func() { done <- recover() }()
				perm = IsPermanent(tc.err)
				outPerm = dispatcher.IsPermanent(outcome(rec, tc.err))
			}()
			select {
			case r := <-done:
				require.Nil(t, r, "panicked")
			case <-time.After(30 * time.Second): // a hang guard, not a speed limit
				t.Fatal("IsPermanent never returned (an Unwrap cycle walked forever?)")
			}
			require.Equal(t, tc.permanent, perm)
			require.Equal(t, tc.permanent, outPerm)
		})
	}
}
