package dispatcher

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Defaults of the HTTP dispatcher.
const (
	// DefaultTimeout bounds one HTTP request, response body included.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBodyBytes is the largest request body sent: the Optimizely
	// Go SDK's 3.5 MB payload limit.
	DefaultMaxBodyBytes = 3_500_000
	// DefaultMaxRetryAfter caps the delay a receiver can ask for with
	// Retry-After.
	DefaultMaxRetryAfter = time.Hour
)

// HTTPOption configures NewHTTP.
type HTTPOption interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is the HTTP dispatcher's settings. It is read-only once NewHTTP
// returns.
type config struct {
	timeout       time.Duration
	maxBodyBytes  int
	maxRetryAfter time.Duration
	gzip          bool
	format        BodyFormat
	formatSet     bool
	factory       any // an EventFactory[T], checked against T by NewHTTP
	client        *http.Client
	header        http.Header
	secret        map[string]bool // canonical header names
	logger        *slog.Logger
	errs          []error // found while applying options, reported by validate
}

func defaultConfig() config {
	c := config{
		timeout:       DefaultTimeout,
		maxBodyBytes:  DefaultMaxBodyBytes,
		maxRetryAfter: DefaultMaxRetryAfter,
		format:        BodyEnvelope,
		header:        make(http.Header),
		secret:        make(map[string]bool),
	}
	for _, name := range defaultSecretHeaders {
		c.secret[http.CanonicalHeaderKey(name)] = true
	}
	return c
}

// reservedHeaders are set by the dispatcher itself.
var reservedHeaders = []string{"Content-Length", "Content-Encoding", "Idempotency-Key", "Transfer-Encoding"}

// validate checks the configuration and the URL, and returns the URL taken
// apart. Its errors wrap ErrInvalidOption and never show the URL.
func (c *config) validate(rawURL string) (*destination, error) {
	if len(c.errs) > 0 {
		return nil, c.errs[0]
	}
	dest, err := newDestination(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	switch {
	case c.timeout <= 0:
		return nil, fmt.Errorf("%w: WithTimeout(%s): must be positive", ErrInvalidOption, c.timeout)
	case c.maxBodyBytes <= 0:
		return nil, fmt.Errorf("%w: WithMaxBodyBytes(%d): must be positive", ErrInvalidOption, c.maxBodyBytes)
	case c.maxRetryAfter <= 0:
		return nil, fmt.Errorf("%w: WithMaxRetryAfter(%s): must be positive", ErrInvalidOption, c.maxRetryAfter)
	case !c.format.valid():
		return nil, fmt.Errorf("%w: WithBodyFormat(%d): unknown format", ErrInvalidOption, int(c.format))
	case c.formatSet && c.factory != nil:
		return nil, fmt.Errorf("%w: WithBodyFormat and WithEventFactory conflict: the factory writes the body", ErrInvalidOption)
	}
	for _, name := range reservedHeaders {
		if _, ok := c.header[name]; ok {
			return nil, fmt.Errorf("%w: header %s is set by the dispatcher", ErrInvalidOption, name)
		}
	}
	return dest, nil
}

// WithTimeout bounds each HTTP request, from sending it to reading the
// response. A request that runs out of time is a retryable failure. Default:
// 10s (DefaultTimeout).
func WithTimeout(d time.Duration) HTTPOption {
	return optionFunc(func(c *config) { c.timeout = d })
}

// WithMaxBodyBytes sets the largest request body sent, measured after gzip.
// A batch whose body would be larger is split in halves (recursively, order
// kept) before sending; a single event whose body alone is larger is a
// permanent error (ErrBodyTooLarge). Default: 3_500_000 (DefaultMaxBodyBytes).
func WithMaxBodyBytes(n int) HTTPOption {
	return optionFunc(func(c *config) { c.maxBodyBytes = n })
}

// WithMaxRetryAfter caps the delay a receiver can ask for with Retry-After.
// Default: 1h (DefaultMaxRetryAfter).
func WithMaxRetryAfter(d time.Duration) HTTPOption {
	return optionFunc(func(c *config) { c.maxRetryAfter = d })
}

// WithGzip compresses request bodies with gzip and sets Content-Encoding:
// gzip (unless the event factory set a Content-Encoding itself). Default:
// off.
func WithGzip() HTTPOption {
	return optionFunc(func(c *config) { c.gzip = true })
}

// WithBodyFormat chooses the shape of the default factory's bodies. It
// conflicts with WithEventFactory. Default: BodyEnvelope.
func WithBodyFormat(f BodyFormat) HTTPOption {
	return optionFunc(func(c *config) { c.format, c.formatSet = f, true })
}

// WithEventFactory replaces the default event factory (NewEventFactory with
// the body format). T must be the dispatcher's event type, or NewHTTP fails.
// Default: NewEventFactory[T](BodyEnvelope).
func WithEventFactory[T any](f EventFactory[T]) HTTPOption {
	return optionFunc(func(c *config) {
		if f == nil {
			c.errs = append(c.errs, fmt.Errorf("%w: WithEventFactory(nil)", ErrInvalidOption))
			return
		}
		c.factory = f
	})
}

// WithClient sends requests with the caller's client (its transport, proxy,
// TLS settings and Timeout). The dispatcher works on a shallow copy that will
// not follow a redirect changing the method (a 301, 302 or 303 answer to a
// POST): such an answer is a permanent error. On a redirect it follows, the
// copy sends no Referer, and no secret header to another origin (scheme,
// host or port); then the client's own CheckRedirect, if any, decides.
// Default: a client of its own on a clone of http.DefaultTransport, TLS
// certificates verified.
func WithClient(client *http.Client) HTTPOption {
	return optionFunc(func(c *config) {
		if client == nil {
			c.errs = append(c.errs, fmt.Errorf("%w: WithClient(nil)", ErrInvalidOption))
			return
		}
		c.client = client
	})
}

// WithHeader sets a header on every request (an auth token, for one), over
// any value the event factory set. Values of Authorization,
// Proxy-Authorization, Cookie, X-Api-Key and the WithSecretHeader names never
// appear in logs or errors. Content-Length, Content-Encoding,
// Transfer-Encoding and Idempotency-Key are the dispatcher's own. Default:
// only Content-Type (from the factory), User-Agent: walbatch and
// Idempotency-Key.
func WithHeader(name, value string) HTTPOption {
	return optionFunc(func(c *config) {
		if err := checkHeader(name, value); err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.header.Set(name, value)
	})
}

// WithHeaders sets every header of h, as WithHeader does for each. Default:
// none.
func WithHeaders(h http.Header) HTTPOption {
	return optionFunc(func(c *config) {
		for name, values := range h {
			c.header.Del(name)
			for _, v := range values {
				if err := checkHeader(name, v); err != nil {
					c.errs = append(c.errs, err)
					return
				}
				c.header.Add(name, v)
			}
		}
	})
}

// WithSecretHeader declares more headers whose values are secret: they never
// appear in logs, errors or anything the dispatcher returns, and a redirect
// to another origin does not carry them. Default: Authorization,
// Proxy-Authorization, Cookie and X-Api-Key.
func WithSecretHeader(names ...string) HTTPOption {
	return optionFunc(func(c *config) {
		for _, name := range names {
			c.secret[http.CanonicalHeaderKey(name)] = true
		}
	})
}

// WithLogger logs each request (batch, events, bytes, status, duration) at
// Debug and each failure at Warn; secret values never appear. A nil logger
// discards. Default: discard.
func WithLogger(l *slog.Logger) HTTPOption {
	return optionFunc(func(c *config) { c.logger = l })
}

// checkHeader rejects names that are not HTTP tokens and values that could
// split a header. Its errors never show the value.
func checkHeader(name, value string) error {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return fmt.Errorf("%w: header name %q is not a valid token", ErrInvalidOption, name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("%w: header %s: value holds CR, LF or NUL", ErrInvalidOption, name)
	}
	return nil
}

func isTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return r < 0x80 && strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}
