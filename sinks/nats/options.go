package walnats

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/processor"
)

// Option configures a Dispatcher. Options are validated by New.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	body       any // func(*dispatcher.Event[T]) ([]byte, error), checked in New
	horizon    time.Duration
	horizonSet bool
	logger     *slog.Logger
	maxPending int
	ackTimeout time.Duration
	domain     string
}

// Defaults of the options below.
const (
	DefaultMaxPending = 4096
	DefaultAckTimeout = 30 * time.Second
)

func defaultConfig() config {
	return config{logger: slog.Default(), maxPending: DefaultMaxPending, ackTimeout: DefaultAckTimeout}
}

func (c *config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
	}
	switch {
	case c.logger == nil:
		return bad("logger must not be nil")
	case c.maxPending < 1:
		return bad("max pending %d must be at least 1", c.maxPending)
	case c.ackTimeout <= 0:
		return bad("ack timeout %s must be positive", c.ackTimeout)
	case c.horizonSet && c.horizon < 0:
		return bad("retry horizon %s must not be negative", c.horizon)
	}
	if !c.horizonSet {
		h, err := processor.RetryHorizon() // the processor's defaults
		if err != nil {
			return err
		}
		c.horizon = h
	}
	return nil
}

// WithBody sets how an event becomes a message body. Default: the
// payload as the WAL stores it (Event.Payload: msgpack, or the codec of
// the processor's WithCodec), as the Kafka sink sends it. For JSON of the
// value whatever the codec:
//
//	walnats.WithBody(walnats.JSON[T])
//
// An error from fn dead-letters that event (ErrBody). fn must not keep e.
// A nil fn, or one for another event type, is refused by New.
func WithBody[T any](fn func(e *dispatcher.Event[T]) ([]byte, error)) Option {
	return optionFunc(func(c *config) { c.body = fn })
}

// WithRetryHorizon sets the longest time after a batch's first attempt
// that it may be dispatched again: processor.RetryHorizon of the options
// the processor is opened with. New and Check compare it with the stream's
// duplicate window. Default: processor.RetryHorizon() of the processor's
// default options (about 22 minutes).
func WithRetryHorizon(d time.Duration) Option {
	return optionFunc(func(c *config) { c.horizon, c.horizonSet = d, true })
}

// WithLogger sets where the duplicate-window warning goes. Default:
// slog.Default().
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithMaxPending bounds the publishes awaiting their PubAck at once, over
// every batch this dispatcher has in flight (nats.go's
// PublishAsyncMaxPending). A batch larger than that waits for earlier
// acknowledgements, within its context. Default 4096.
func WithMaxPending(n int) Option { return optionFunc(func(c *config) { c.maxPending = n }) }

// WithAckTimeout bounds the wait for one PubAck (nats.go's
// PublishAsyncTimeout); a publish not acknowledged by then is retryable.
// Dispatch also stops waiting when its context ends; this timeout lets the
// client forget a publish whose ack never comes. Default 30s, the
// processor's default dispatch timeout.
func WithAckTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.ackTimeout = d }) }

// WithDomain publishes through the JetStream API of the given domain (a
// leaf node's hub, say). Default: the connection's own.
func WithDomain(domain string) Option { return optionFunc(func(c *config) { c.domain = domain }) }
