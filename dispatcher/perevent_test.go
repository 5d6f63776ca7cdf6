package dispatcher

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// panicky is an error type whose Error reads its receiver: a typed nil
// pointer of it panics when read.
type panicky struct{ msg string }

func (e *panicky) Error() string { return e.msg }

func TestPerEvent(t *testing.T) {
	require.NoError(t, PerEvent(nil))
	require.NoError(t, PerEvent([]error{}))
	require.NoError(t, PerEvent([]error{nil, nil}))

	errs := []error{nil, Permanent(errors.New("too big")), Retryable(errors.New("busy"), time.Second), nil}
	err := PerEvent(errs)
	var e *EventErrors
	require.ErrorAs(t, err, &e)
	require.Equal(t, errs, e.Errs)
	require.Equal(t, "2 of 4 events failed: first: permanent: too big", err.Error())
	// One event's outcome is not the batch's.
	require.False(t, IsPermanent(err))
	_, ok := RetryAfter(err)
	require.False(t, ok)
	_, ok = Delivered(err, 4)
	require.False(t, ok)
}

func TestEventErrorsNilSafe(t *testing.T) {
	var nilE *EventErrors
	var nilP *panicky
	require.Equal(t, "per-event outcomes: none reported (no reason given)", nilE.Error())
	require.Equal(t, "0 of 0 events failed", (&EventErrors{}).Error())
	require.Equal(t, "0 of 2 events failed", (&EventErrors{Errs: []error{nil, nil}}).Error())
	require.Equal(t, "1 of 1 events failed: first: (*dispatcher.panicky: Error panicked: runtime error: invalid memory address or nil pointer dereference)",
		(&EventErrors{Errs: []error{nilP}}).Error())
	require.Equal(t, "1 of 1 events failed: first: (no reason given)", (&EventErrors{Errs: []error{errors.New("")}}).Error())

	outs, ok := EventOutcomes(nilE, 2)
	require.True(t, ok)
	require.Equal(t, []error{errNoOutcome, errNoOutcome}, outs)
	outs, ok = EventOutcomes(&EventErrors{}, -1)
	require.True(t, ok)
	require.Empty(t, outs)
}

func TestEventOutcomes(t *testing.T) {
	perm := Permanent(errors.New("no"))
	errs := []error{nil, perm, nil}
	err := PerEvent(errs)

	outs, ok := EventOutcomes(err, 3)
	require.True(t, ok)
	require.Equal(t, errs, outs)
	outs[0] = perm
	require.NoError(t, errs[0], "a new slice, not the dispatcher's")

	outs, _ = EventOutcomes(err, 5) // a longer batch: the rest are retryable
	require.Equal(t, []error{nil, perm, nil, errNoOutcome, errNoOutcome}, outs)
	require.False(t, IsPermanent(outs[4]))
	outs, _ = EventOutcomes(err, 2) // a shorter batch: the rest are ignored
	require.Equal(t, []error{nil, perm}, outs)

	// Wrapped, and inside Partial: the per-event outcomes are found.
	for _, w := range []error{fmt.Errorf("sink: %w", err), Partial(1, err)} {
		outs, ok = EventOutcomes(w, 3)
		require.True(t, ok, "%v", w)
		require.Equal(t, errs, outs)
	}
	for _, other := range []error{nil, errors.New("x"), Partial(1, nil), Permanent(nil)} {
		outs, ok = EventOutcomes(other, 3)
		require.False(t, ok)
		require.Nil(t, outs)
	}
}
