package walnats

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// A publish the server refuses for want of permission gets no PubAck: the
// server answers with an asynchronous -ERR naming the subject, which
// nats.go hands to the connection's error handler. permWatch sits in that
// handler (calling the one it replaced) and wakes the dispatches waiting
// on a subject it names, so the events fail as permanent at once instead of
// timing out as retryable.
type permWatch struct {
	mu      sync.Mutex
	waiting map[string]*denial // subject -> its waiters
}

// denial is closed when the server refuses a publish to its subject while
// refs dispatches wait on it.
type denial struct {
	refs int
	ch   chan struct{}
	err  error // the server's words, set before ch is closed
}

// watchPermissions wraps nc's error handler.
func watchPermissions(nc *nats.Conn) *permWatch {
	w := &permWatch{waiting: map[string]*denial{}}
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
		w.observe(err)
		if prev != nil {
			prev(c, s, err)
		}
	})
	return w
}

const publishViolation = "permissions violation for publish to "

// observe wakes the waiters of the subject a publish permission violation
// names.
func (w *permWatch) observe(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	msg := err.Error()
	i := strings.Index(strings.ToLower(msg), publishViolation)
	if i < 0 {
		return // a subscription's violation, or a reply subject's
	}
	subj, uerr := strconv.Unquote(msg[i+len(publishViolation):])
	if uerr != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if d := w.waiting[subj]; d != nil && d.err == nil {
		d.err = err
		close(d.ch)
	}
}

// wait registers interest in subj until release; the channel is closed if
// a publish to subj is refused meanwhile.
func (w *permWatch) wait(subj string) *denial {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.waiting[subj]
	if d == nil {
		d = &denial{ch: make(chan struct{})}
		w.waiting[subj] = d
	}
	d.refs++
	return d
}

func (w *permWatch) release(subj string, d *denial) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if d.refs--; d.refs == 0 && w.waiting[subj] == d {
		delete(w.waiting, subj)
	}
}

// reason is the server's refusal (after ch is closed).
func (d *denial) reason() error {
	return errors.Join(ErrPermission, d.err)
}
