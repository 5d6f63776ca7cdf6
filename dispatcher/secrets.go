package dispatcher

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/walbatch/walbatch/internal/errwalk"
	"github.com/walbatch/walbatch/internal/redact"
)

// defaultSecretHeaders are the headers whose values the HTTP dispatcher never
// shows; WithSecretHeader adds to them.
var defaultSecretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"}

const redacted = "[REDACTED]"

// minSecretPart is the shortest piece of a secret value (a token after
// "Bearer ", a cookie value) hidden on its own; the whole value is always
// hidden whatever its length.
const minSecretPart = 8

// redactor removes known secrets from text: the values of secret headers,
// and what a URL carries (see internal/redact).
type redactor struct {
	forms  [][2]string // a URL's raw forms and their redacted text
	values []string    // longest first, so a value hides before its parts
}

// newRedactor collects the values of the headers named in secret (canonical
// names) from h, and the secrets of the destinations' URLs.
func newRedactor(secret map[string]bool, h http.Header, dests ...*destination) *redactor {
	r := &redactor{}
	add := func(v string) {
		if v != "" {
			r.values = append(r.values, v)
		}
	}
	for name, vs := range h {
		if !secret[name] {
			continue
		}
		for _, v := range vs {
			add(strings.TrimSpace(v))
			for _, part := range strings.FieldsFunc(v, isSecretSeparator) {
				if len(part) >= minSecretPart {
					add(part)
				}
			}
		}
	}
	for _, d := range dests {
		r.forms = append(r.forms, d.forms...)
		for _, v := range d.secrets {
			add(v)
		}
	}
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	sort.Slice(r.forms, func(i, j int) bool { return len(r.forms[i][0]) > len(r.forms[j][0]) })
	return r
}

func isSecretSeparator(c rune) bool {
	return c == ' ' || c == '\t' || c == ';' || c == ',' || c == '='
}

// longest returns the length of the longest text String replaces: a secret
// value or a URL form (0 when none).
func (r *redactor) longest() int {
	n := 0
	if len(r.values) > 0 {
		n = len(r.values[0])
	}
	if len(r.forms) > 0 {
		n = max(n, len(r.forms[0][0]))
	}
	return n
}

// String returns s with every known URL replaced by its redacted form and
// every secret value by [REDACTED].
func (r *redactor) String(s string) string {
	for _, f := range r.forms {
		if strings.Contains(s, f[0]) {
			s = strings.ReplaceAll(s, f[0], f[1])
		}
	}
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// Error returns err itself when its message shows no secret. Otherwise it
// returns an error with the message redacted that still answers errors.Is for
// the usual transport sentinels and Timeout(), but does not unwrap to the
// original (whose message holds the secret). A *url.Error keeps its shape with
// its URL redacted; one deeper in the chain has its URL redacted in the
// message.
//
// err may come from a user's event factory or transport: its tree is read
// as IsPermanent reads it (at most 64 errors, each Unwrap called once),
// and an err whose Error panics gives a redacted error saying so, so that
// what Error returns can always be read.
func (r *redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: redact.URL(ue.URL), Err: r.Error(ue.Err)}
	}
	msg, ok := message(err)
	clean := r.String(msg)
	nodes := errwalk.Tree(err)
	if ue, found := errwalk.As[*url.Error](nodes); found && ue != nil {
		safe := redact.URL(ue.URL)
		clean = strings.ReplaceAll(clean, strconv.Quote(ue.URL), strconv.Quote(safe))
		clean = strings.ReplaceAll(clean, ue.URL, safe)
	}
	if ok && clean == msg {
		return err
	}
	re := &redactedError{msg: clean}
	for _, s := range []error{context.Canceled, context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, ErrBodyTooLarge} {
		if errwalk.Is(nodes, s) {
			re.is = append(re.is, s)
		}
	}
	if te, found := errwalk.As[interface{ Timeout() bool }](nodes); found {
		re.timeout = timesOut(te)
	}
	return re
}

// timesOut is te.Timeout(), false when it panics.
func timesOut(te interface{ Timeout() bool }) (yes bool) {
	defer func() {
		if recover() != nil {
			yes = false
		}
	}()
	return te.Timeout()
}

type redactedError struct {
	msg     string
	is      []error
	timeout bool
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Timeout() bool { return e.timeout }

func (e *redactedError) Is(target error) bool {
	for _, s := range e.is {
		if s == target {
			return true
		}
	}
	return false
}

// redactKeepingClass redacts err (an event factory's) and keeps it permanent
// or retryable-after as it was, since redaction may cut the chain.
func redactKeepingClass(r *redactor, err error) error {
	safe := r.Error(err)
	if safe == err {
		return err
	}
	if IsPermanent(err) {
		return Permanent(safe)
	}
	after, _ := RetryAfter(err)
	return Retryable(safe, after)
}
