package processor

import (
	"fmt"

	"github.com/walbatch/walbatch/dispatcher"
)

// readable returns err, the outcome of a dispatch of n events, once it has
// been read the way the loop reads it (its message, and the chain walks of
// IsPermanent, RetryAfter, Delivered and EventOutcomes). When any of that panics (a typed
// nil pointer of a user's error type, say), it returns a retryable error
// saying so instead: the loop goroutine reads outcomes and must not panic.
// It runs on the dispatch goroutine.
func readable(err error, n int) (out error) {
	if err == nil {
		return nil
	}
	defer func() {
		if rec := recover(); rec != nil {
			out = fmt.Errorf("processor: the dispatcher returned an error that panics when read (%T): %v", err, rec)
		}
	}()
	_ = err.Error()
	dispatcher.IsPermanent(err)
	dispatcher.RetryAfter(err)
	dispatcher.Delivered(err, n)
	dispatcher.EventOutcomes(err, n)
	return err
}
