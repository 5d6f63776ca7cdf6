package processor

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/internal/errwalk"
)

// maxReasonBytes bounds a message of the dispatcher's as the processor
// keeps it (a batch's LastError, a dead letter's reason, a log line): a
// longer one is cut at a rune boundary and says how long it was.
const maxReasonBytes = 1024

// boundReason is s as valid UTF-8, cut to about maxReasonBytes.
func boundReason(s string) string {
	if len(s) <= maxReasonBytes && utf8.ValidString(s) {
		return s
	}
	t := s
	if len(t) > maxReasonBytes+utf8.UTFMax {
		t = t[:maxReasonBytes+utf8.UTFMax]
	}
	t = strings.ToValidUTF8(t, "\uFFFD")
	if len(t) <= maxReasonBytes && len(t) == len(s) {
		return t
	}
	if len(t) > maxReasonBytes {
		cut := maxReasonBytes
		for cut > 0 && !utf8.RuneStart(t[cut]) {
			cut--
		}
		t = t[:cut]
	}
	if len(s) > maxReasonBytes {
		t += fmt.Sprintf("... (%d bytes in all)", len(s))
	}
	return t
}

// verdict is an attempt's error reduced to plain data, read once on the
// dispatch goroutine under a recover: the loop goroutine decides on these
// fields and calls no method of the dispatcher's error again.
type verdict struct {
	msg       string // Error(), bounded (boundReason)
	permanent bool   // dispatcher.IsPermanent
	after     time.Duration
	partial   bool // a *dispatcher.PartialError, delivering the first delivered events
	delivered int
	perEvent  bool // a *dispatcher.EventErrors: outs holds one outcome per event
	outs      []eventOutcome
	panicked  bool // ErrDispatcherPanicked
	timeout   bool // context.DeadlineExceeded
	unread    bool // reading it panicked: msg says so
}

// attemptError is the error of a failed attempt as notifications carry
// it: Error is the bounded message read on the dispatch goroutine, and
// Unwrap returns the dispatcher's own error (none when reading it
// panicked), for a listener's errors.As.
type attemptError struct {
	v     verdict
	cause error
}

func (e *attemptError) Error() string { return e.v.msg }
func (e *attemptError) Unwrap() error { return e.cause }

// readVerdict reads err, the outcome of a dispatch of n events, once: its
// message, and one walk of its tree (errwalk.Tree: at most 64 errors, each
// Unwrap called once) for what IsPermanent, RetryAfter, Delivered and
// EventOutcomes look for. When reading the message panics (a typed nil
// pointer of a user's error type, say), the verdict is a retryable failure
// saying so. It runs on the dispatch goroutine.
func readVerdict(err error, n int) (v verdict) {
	if err == nil {
		return verdict{}
	}
	defer func() {
		if rec := recover(); rec != nil {
			v = verdict{unread: true, msg: boundReason(fmt.Sprintf("processor: the dispatcher returned an error that panics when read (%T): %v", err, rec))}
		}
	}()
	v.msg = boundReason(err.Error())
	nodes := errwalk.Tree(err)
	_, v.permanent = errwalk.As[*dispatcher.PermanentError](nodes)
	retry, fRetry := errwalk.As[*dispatcher.RetryableError](nodes)
	part, fPart := errwalk.As[*dispatcher.PartialError](nodes)
	ev, fEv := errwalk.As[*dispatcher.EventErrors](nodes)
	v.panicked = errwalk.Is(nodes, ErrDispatcherPanicked)
	v.timeout = errwalk.Is(nodes, context.DeadlineExceeded)
	if fRetry && retry != nil && retry.After > 0 {
		v.after = retry.After
	}
	if fEv {
		v.perEvent = true
		errs, _ := dispatcher.EventOutcomes(ev, n)
		v.outs = make([]eventOutcome, len(errs))
		for i, e := range errs {
			v.outs[i] = readEvent(e)
		}
	} else if fPart {
		v.partial = true
		if part != nil {
			v.delivered = max(0, min(part.Delivered, n))
		}
	}
	return v
}

// readEvent reads one event's outcome (see eventOutcome) once, as
// readVerdict reads a whole result.
func readEvent(err error) (out eventOutcome) {
	if err == nil {
		return eventOutcome{}
	}
	defer func() {
		if rec := recover(); rec != nil {
			out = eventOutcome{failed: true,
				reason: boundReason(fmt.Sprintf("processor: the dispatcher reported an event outcome that panics when read (%T): %v", err, rec))}
		}
	}()
	out = eventOutcome{failed: true, reason: boundReason(err.Error())}
	nodes := errwalk.Tree(err)
	_, out.permanent = errwalk.As[*dispatcher.PermanentError](nodes)
	retry, fRetry := errwalk.As[*dispatcher.RetryableError](nodes)
	if fRetry && retry != nil && retry.After > 0 {
		out.after = retry.After
	}
	return out
}
