package processor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// onceErr is an error whose Error works the first few times only, then
// panics: a sink's error type that reads state it frees after use.
type onceErr struct {
	msg   string
	calls atomic.Int32
	ok    int32 // calls that work
}

func (e *onceErr) Error() string {
	if e.calls.Add(1) > e.ok {
		panic("onceErr: read after use")
	}
	return e.msg
}

// The loop goroutine reads no error of the sink's: each event's outcome
// (its message, whether it is permanent, its Retry-After) and the
// result's message are read once, on the dispatch goroutine, so an
// error that panics when read again does not take the process down.
func TestPerEventOutcomesReadOnce(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(func(context.Context, attempt) error {
		per := dispatcher.PerEvent([]error{
			nil,
			dispatcher.Permanent(&onceErr{msg: "refused", ok: 2}),
			&onceErr{msg: "busy", ok: 2},
		})
		return errors.Join(&onceErr{msg: "sink", ok: 1}, per)
	})
	path := walPath(t)
	p := openP(t, path, sink, quiet(WithBatchSize(3), WithMaxRetries(0), WithRetryDelay(time.Millisecond, time.Millisecond))...)
	enqueueN(t, p, 0, 3)
	require.NoError(t, p.Flush(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
	st := p.Stats()
	require.EqualValues(t, 1, st.Delivered)
	require.EqualValues(t, 2, st.DeadLettered)
	require.Equal(t, []string{"1:permanent: refused@1", "2:gave up after 1 attempts: busy@1"}, deadReasons(t, path, sink.all()[0].BatchID))
	mustVerifyFile(t, path)
}
