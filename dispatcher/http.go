package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"

	"github.com/walbatch/walbatch/internal/errwalk"
)

// HTTP is a dispatcher that sends each batch as one HTTP request (or more,
// when the batch must be split), as described in
// https://github.com/walbatch/walbatch/blob/main/docs/dispatchers.md.
//
// Every request carries Idempotency-Key: the batch ID when it holds the
// whole batch, "<batch ID>:<first seq>-<last seq>" when it holds a part of a
// split batch, so a receiver can drop redeliveries without dropping the other
// parts. An *HTTP is safe for concurrent use.
type HTTP[T any] struct {
	url     string       // as given to NewHTTP, passed to the factory
	dest    *destination // url taken apart
	cfg     config
	factory EventFactory[T]
	client  *http.Client
	log     *slog.Logger
	red     *redactor // the secrets known at construction
}

// NewHTTP returns an HTTP dispatcher sending batches to rawURL (http or
// https). The URL's userinfo, if any, is sent as Authorization: Basic, and
// errors and logs show the URL with its userinfo and query values
// redacted. Invalid options or option conflicts give an error wrapping
// ErrInvalidOption; it never shows the URL.
func NewHTTP[T any](rawURL string, opts ...HTTPOption) (*HTTP[T], error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		o.apply(&cfg)
	}
	dest, err := cfg.validate(rawURL)
	if err != nil {
		return nil, err
	}
	h := &HTTP[T]{url: rawURL, dest: dest, cfg: cfg, log: cfg.logger}
	h.red = newRedactor(cfg.secret, cfg.header, dest)
	h.factory = NewEventFactory[T](cfg.format)
	if cfg.factory != nil {
		f, ok := cfg.factory.(EventFactory[T])
		if !ok {
			return nil, fmt.Errorf("%w: WithEventFactory: factory is a %T, want EventFactory[%s]",
				ErrInvalidOption, cfg.factory, reflect.TypeFor[T]())
		}
		h.factory = f
	}
	client := cfg.client
	if client == nil {
		client = newDefaultClient()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.client = withRedirectPolicy(client, cfg.secret, h.log)
	return h, nil
}

// Dispatch sends b and reports the outcome as the contract says: nil when
// the receiver accepted every event; a *PartialError when a split batch was
// accepted only in part (its leading parts); otherwise the error of the first
// request that failed, retryable or permanent (see https://github.com/walbatch/walbatch/blob/main/docs/dispatchers.md for
// the status table). Each event is accepted at most once per call: after a
// failure the remaining parts are not sent.
func (h *HTTP[T]) Dispatch(ctx context.Context, b *Batch[T]) error {
	switch {
	case h == nil || h.factory == nil:
		return Permanent(fmt.Errorf("%w: HTTP not made by NewHTTP", ErrInvalidCall))
	case ctx == nil:
		return Permanent(fmt.Errorf("%w: nil context", ErrInvalidCall))
	case b == nil:
		return Permanent(fmt.Errorf("%w: nil batch", ErrInvalidCall))
	}
	if len(b.Events) == 0 {
		return nil
	}
	n, err := h.deliver(ctx, b, b.Events, true)
	if err == nil {
		return nil
	}
	if n > 0 {
		return Partial(n, err)
	}
	return err
}

// CloseIdleConnections closes the idle keep-alive connections of the
// dispatcher's client (with WithClient, the caller's client: its transport is
// shared). Dispatch stays usable.
func (h *HTTP[T]) CloseIdleConnections() {
	if h != nil && h.client != nil {
		h.client.CloseIdleConnections()
	}
}

// deliver sends events (all of b's when whole) and returns how many leading
// events the receiver accepted, with the error that stopped it.
func (h *HTTP[T]) deliver(ctx context.Context, b *Batch[T], events []Event[T], whole bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, Retryable(fmt.Errorf("dispatcher: batch %s: %w", b.ID, err), 0)
	}
	part := &Batch[T]{ID: b.ID, Stream: b.Stream, Attempt: b.Attempt, Events: events}
	req, err := h.build(part, whole)
	nodes := errwalk.Tree(err) // err may hold a user's factory's or value's error
	enc, isEnc := errwalk.As[*encodeError](nodes)
	switch {
	case errwalk.Is(nodes, errSplit):
		h.log.LogAttrs(ctx, slog.LevelDebug, "dispatcher: body over the byte limit, splitting",
			slog.String("batch", b.ID), slog.Int("events", len(events)), slog.Int("limit", h.cfg.maxBodyBytes))
		return h.deliverHalves(ctx, b, events)
	case isEnc && enc.index > 0:
		// Deliver what precedes the event that cannot be encoded.
		n, err2 := h.deliver(ctx, b, events[:enc.index], false)
		if err2 != nil {
			return n, err2
		}
		return n, err
	case err != nil:
		return 0, err
	}
	err = h.send(ctx, req, part)
	se, isStatus := errwalk.As[*StatusError](errwalk.Tree(err)) // err may hold a user's transport's error
	if isStatus && se != nil && se.Status == http.StatusRequestEntityTooLarge && len(events) > 1 {
		h.log.LogAttrs(ctx, slog.LevelDebug, "dispatcher: receiver answered 413, splitting",
			slog.String("batch", b.ID), slog.Int("events", len(events)), slog.Int("bytes", len(req.ev.Body)))
		return h.deliverHalves(ctx, b, events)
	}
	if err != nil {
		return 0, err
	}
	return len(events), nil
}

// deliverHalves delivers the first half of events, then the second half.
func (h *HTTP[T]) deliverHalves(ctx context.Context, b *Batch[T], events []Event[T]) (int, error) {
	mid := len(events) / 2
	n, err := h.deliver(ctx, b, events[:mid], false)
	if err != nil {
		return n, err
	}
	m, err := h.deliver(ctx, b, events[mid:], false)
	return n + m, err
}

// request is a LogEvent ready to send, with what is needed to report on it
// without showing secrets.
type request struct {
	ev      *LogEvent
	safeURL string
	red     *redactor
	events  int
}

// build makes the request for part: the factory's LogEvent, then the user
// headers, the idempotency key, gzip, and the byte limit check (errSplit, or
// ErrBodyTooLarge for a single event).
func (h *HTTP[T]) build(part *Batch[T], whole bool) (*request, error) {
	ev, err := h.factory(h.url, part)
	if err != nil {
		return nil, redactKeepingClass(h.red, err)
	}
	if ev == nil {
		return nil, Permanent(fmt.Errorf("dispatcher: batch %s: event factory returned no LogEvent", part.ID))
	}
	out := &LogEvent{Method: ev.Method, URL: ev.URL, Body: ev.Body, Header: make(http.Header, len(ev.Header)+len(h.cfg.header)+3)}
	if out.Method == "" {
		out.Method = http.MethodPost
	}
	if out.URL == "" {
		out.URL = h.url
	}
	dest := h.dest
	if out.URL != h.url {
		if dest, err = newDestination(out.URL); err != nil {
			return nil, Permanent(fmt.Errorf("dispatcher: batch %s: event factory returned an invalid URL", part.ID))
		}
	}
	out.URL = dest.send
	r := &request{ev: out, safeURL: dest.safe, events: len(part.Events)}
	for name, vs := range ev.Header {
		for _, v := range vs {
			if err := checkHeader(name, v); err != nil {
				// net/http would refuse it at every attempt.
				return nil, Permanent(fmt.Errorf("dispatcher: batch %s: event factory: %w", part.ID, err))
			}
		}
		out.Header[name] = append([]string(nil), vs...)
	}
	for name, vs := range h.cfg.header {
		out.Header[name] = append([]string(nil), vs...)
	}
	if out.Header.Get("User-Agent") == "" {
		out.Header.Set("User-Agent", "walbatch")
	}
	out.Header.Set("Idempotency-Key", idempotencyKey(part, whole))
	if dest.basic != "" && out.Header.Get("Authorization") == "" {
		out.Header.Set("Authorization", dest.basic)
	}
	r.red = newRedactor(h.cfg.secret, out.Header, dest)
	if h.cfg.gzip && out.Header.Get("Content-Encoding") == "" {
		z, err := gzipBytes(out.Body)
		if err != nil {
			return nil, fmt.Errorf("dispatcher: batch %s: gzip: %w", part.ID, err)
		}
		out.Body = z
		out.Header.Set("Content-Encoding", "gzip")
	}
	if len(out.Body) > h.cfg.maxBodyBytes {
		if len(part.Events) > 1 {
			return nil, errSplit
		}
		return nil, Permanent(fmt.Errorf("%w: batch %s: event %s: body of %d bytes, limit %d",
			ErrBodyTooLarge, part.ID, part.Events[0].ID, len(out.Body), h.cfg.maxBodyBytes))
	}
	return r, nil
}

// idempotencyKey is the batch ID for the whole batch, and names the part's
// sequence range for a part of a split batch.
func idempotencyKey[T any](part *Batch[T], whole bool) string {
	if whole {
		return part.ID
	}
	first, last := part.Events[0].Seq, part.Events[len(part.Events)-1].Seq
	return part.ID + ":" + strconv.FormatUint(first, 10) + "-" + strconv.FormatUint(last, 10)
}
