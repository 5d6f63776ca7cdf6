package processor

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Left is what Stop left in the WAL for one stream: events Enqueue
// acknowledged that were not delivered by Stop's deadline. They are
// durable and go out after the next open (or the next New on the stream).
// Dead letters are not counted: they are a final outcome, waiting for an
// operator (RequeueDead), not for the next start; Stats shows them.
type Left struct {
	PendingEvents int64 `json:"pending_events"` // in no batch yet
	PendingBytes  int64 `json:"pending_bytes"`
	// InFlightEvents are in batches sealed and not completed: dispatching
	// when the deadline came, waiting for a retry, or stuck (ErrStuck).
	InFlightEvents int64 `json:"inflight_events"`
	InFlightBytes  int64 `json:"inflight_bytes"`
}

// Events is the number of events left: pending and in flight.
func (l Left) Events() int64 { return l.PendingEvents + l.InFlightEvents }

// Bytes is the size of the events left, as stored: pending and in flight.
func (l Left) Bytes() int64 { return l.PendingBytes + l.InFlightBytes }

func (l Left) add(o Left) Left {
	return Left{
		PendingEvents:  l.PendingEvents + o.PendingEvents,
		PendingBytes:   l.PendingBytes + o.PendingBytes,
		InFlightEvents: l.InFlightEvents + o.InFlightEvents,
		InFlightBytes:  l.InFlightBytes + o.InFlightBytes,
	}
}

// leftOf is what Stats says is left; dead letters are not.
func leftOf(st Stats) Left {
	return Left{PendingEvents: st.PendingEvents, PendingBytes: st.PendingBytes,
		InFlightEvents: st.InFlightEvents, InFlightBytes: st.InFlightBytes}
}

// UndeliveredError is the error Processor.Stop and Manager.Stop return
// when they leave events in the WAL; errors.Is(err, ErrUndelivered) holds
// for it. Get it with errors.As to read the counts, to log "left N events
// for the next start". When Stop has other errors too, they are joined
// with it (errors.Join); WithoutUndelivered takes it out again.
type UndeliveredError struct {
	// Left is the sum over Streams.
	Left
	// Streams holds each stream that left events, by name: for
	// Processor.Stop its one stream, for Manager.Stop every stream of the
	// manager that left any. A stream that left nothing is not there.
	Streams map[string]Left
	// Err is ctx's error when ctx ended the drain (its deadline came
	// before the stop timeout's end, or it was canceled); nil when the
	// stop timeout ended it, or nothing was dispatching (a processor never
	// started). Unwrap returns it, so errors.Is(err,
	// context.DeadlineExceeded) tells a deadline that was too short.
	Err error
}

// undelivered returns the error for what the streams left, or nil when
// none left anything. cause is ctx's error when it ended a drain.
func undelivered(streams map[string]Left, cause error) *UndeliveredError {
	e := &UndeliveredError{Streams: map[string]Left{}, Err: cause}
	for name, l := range streams {
		if l.Events() > 0 {
			e.Streams[name] = l
			e.Left = e.Left.add(l)
		}
	}
	if len(e.Streams) == 0 {
		return nil
	}
	return e
}

// stopError is the error of Processor.Stop and Manager.Stop: the
// *UndeliveredError for what the streams left (with cause, see
// undelivered) and the other errors (ErrStuck, the close); the
// UndeliveredError alone when there is nothing else, and err alone when
// nothing was left.
func stopError(left map[string]Left, cause, err error) error {
	u := undelivered(left, cause)
	switch {
	case u == nil:
		return err
	case err == nil:
		return u
	}
	return errors.Join(u, err)
}

// WithoutUndelivered returns err, an error Processor.Stop or Manager.Stop
// returned, without its *UndeliveredError: nil when Stop left events and
// nothing else went wrong, err itself when it left none. A service that
// logs what Stop left uses it for the rest: a failed close, ErrStuck.
func WithoutUndelivered(err error) error {
	if _, ok := err.(*UndeliveredError); ok {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	errs := j.Unwrap()
	rest := make([]error, 0, len(errs))
	for _, e := range errs {
		if _, ok := e.(*UndeliveredError); !ok {
			rest = append(rest, e)
		}
	}
	if len(rest) == len(errs) {
		return err
	}
	return errors.Join(rest...)
}

// maxStreamsNamed is how many streams Error names; the rest are counted.
const maxStreamsNamed = 10

// Error says how many events, and bytes, were left, for each stream (the
// first 10 by name) how many pending and in flight, and Err if set.
func (e *UndeliveredError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "processor: stop left %d events (%d bytes) in the WAL for the next start", e.Events(), e.Bytes())
	names := make([]string, 0, len(e.Streams))
	for n := range e.Streams {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i == maxStreamsNamed {
			fmt.Fprintf(&b, "; and %d more streams", len(names)-i)
			break
		}
		sep := "; "
		if i == 0 {
			sep = " ("
		}
		l := e.Streams[n]
		fmt.Fprintf(&b, "%sstream %q: %d pending, %d in flight", sep, n, l.PendingEvents, l.InFlightEvents)
	}
	b.WriteString(")")
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is ErrUndelivered.
func (e *UndeliveredError) Is(target error) bool { return target == ErrUndelivered }

// Unwrap returns Err: ctx's error when ctx ended the drain, else nil.
func (e *UndeliveredError) Unwrap() error { return e.Err }
