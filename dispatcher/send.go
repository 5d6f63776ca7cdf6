package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/walbatch/walbatch/internal/safetext"
)

const (
	// excerptBytes is how much of an error response's body an error keeps.
	excerptBytes = 256
	// drainBytes is how much of a response body is read before closing it,
	// so that the connection can be reused; past it the connection closes.
	drainBytes = 64 << 10
)

// send makes one HTTP request and classifies its outcome: nil for 2xx; a
// *RetryableError for transport errors, timeouts, 408, 429 and 5xx (with the
// Retry-After delay); a *PermanentError for any other status. Both wrap a
// *StatusError when the receiver answered.
func (h *HTTP[T]) send(ctx context.Context, r *request, part *Batch[T]) error {
	reqCtx, cancel := context.WithTimeout(ctx, h.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, r.ev.Method, r.ev.URL, bytes.NewReader(r.ev.Body))
	if err != nil {
		return Permanent(r.red.Error(fmt.Errorf("dispatcher: batch %s: build request for %s: %w", part.ID, r.safeURL, err)))
	}
	req.Header = r.ev.Header
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	}
	start := time.Now()
	attrs := []slog.Attr{
		slog.String("batch", part.ID), slog.String("stream", part.Stream),
		slog.Int("attempt", part.Attempt), slog.Int("events", r.events),
		slog.Int("bytes", len(r.ev.Body)), slog.String("url", r.safeURL),
	}
	resp, err := h.client.Do(req)
	if err != nil {
		err = h.transportError(ctx, reqCtx, r, err)
		h.log.LogAttrs(ctx, slog.LevelWarn, "dispatcher: request failed",
			append(attrs, slog.Duration("elapsed", time.Since(start)), slog.String("error", err.Error()))...)
		return err
	}
	status := resp.StatusCode
	var text string
	if status < 200 || status > 299 {
		text = excerpt(resp.Body, r.red)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	_ = resp.Body.Close()
	attrs = append(attrs, slog.Int("status", status), slog.Duration("elapsed", time.Since(start)))
	if status >= 200 && status <= 299 {
		h.log.LogAttrs(ctx, slog.LevelDebug, "dispatcher: request delivered", attrs...)
		return nil
	}
	se := &StatusError{Status: status, Body: text}
	err = fmt.Errorf("dispatcher: batch %s: %s %s: %w", part.ID, r.ev.Method, r.safeURL, se)
	if retryableStatus(status) {
		after, _ := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now(), h.cfg.maxRetryAfter)
		err = Retryable(err, after)
	} else {
		err = Permanent(err)
	}
	h.log.LogAttrs(ctx, slog.LevelWarn, "dispatcher: request refused", append(attrs, slog.String("error", err.Error()))...)
	return err
}

// retryableStatus reports the statuses worth retrying: 408, 429 and 5xx.
func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// transportError classifies a failure to get a response: always retryable,
// with the cause kept (redacted) and the request timeout named.
func (h *HTTP[T]) transportError(ctx, reqCtx context.Context, r *request, err error) error {
	err = r.red.Error(err)
	switch {
	case ctx.Err() != nil:
		return Retryable(fmt.Errorf("dispatcher: %s %s: %w", r.ev.Method, r.safeURL, ctx.Err()), 0)
	case errors.Is(reqCtx.Err(), context.DeadlineExceeded):
		return Retryable(fmt.Errorf("dispatcher: %s %s: no response within %s: %w",
			r.ev.Method, r.safeURL, h.cfg.timeout, err), 0)
	}
	return Retryable(fmt.Errorf("dispatcher: %s %s: %w", r.ev.Method, r.safeURL, err), 0)
}

// excerpt returns the start of an error response's body for a *StatusError:
// secrets removed first (reading far enough that a secret starting within the
// excerpt is seen whole), then cut to excerptBytes, valid UTF-8, on one line,
// with every control and bidi character (C0, DEL, C1, U+202E and the like,
// see internal/safetext) made a space: what is stored as a dead-letter
// reason or last error cannot drive a terminal.
func excerpt(body io.Reader, red *redactor) string {
	p, _ := io.ReadAll(io.LimitReader(body, int64(excerptBytes+red.longest())))
	s := red.String(string(p))
	if len(s) > excerptBytes {
		cut := excerptBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if safetext.Unsafe(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
