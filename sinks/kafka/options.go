package kafka

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
)

// ErrInvalidOption is returned by New when an option is invalid or options
// conflict. The wrapping error names the option.
var ErrInvalidOption = errors.New("kafka: invalid option")

// ErrNoTopic is the permanent outcome of an event whose topic, from
// WithTopicFunc, is empty: it has nowhere to go.
var ErrNoTopic = errors.New("kafka: no topic for the event")

// Option configures New.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is the sink's settings, read-only once New returns. The user
// functions are stored as any and checked against the sink's T by New, so
// that the options need no type parameter of their own.
type config struct {
	client     *kgo.Client
	clientOpts []kgo.Opt
	ownClient  bool // clientOpts were given (even none): New creates the client
	topicFunc  any  // func(dispatcher.Event[T]) string
	keyFunc    any  // func(dispatcher.Event[T]) []byte
	valueFunc  any  // func(dispatcher.Event[T]) ([]byte, error)
}

// WithClient makes the sink produce with the caller's client. The sink
// never closes it: close it after the processor using the sink has
// stopped. The client must not be transactional nor flush manually (New
// refuses kgo.TransactionalID and kgo.ManualFlushing). Exactly one of
// WithClient and WithClientOptions is required.
func WithClient(cl *kgo.Client) Option {
	return optionFunc(func(c *config) { c.client = cl })
}

// WithClientOptions makes New create a client with kgo.NewClient(opts...)
// (at least kgo.SeedBrokers). The sink owns that client: Close closes it.
// The client keeps franz-go's defaults, the idempotent producer among them.
// Exactly one of WithClient and WithClientOptions is required.
func WithClientOptions(opts ...kgo.Opt) Option {
	return optionFunc(func(c *config) {
		c.clientOpts = append(c.clientOpts, opts...)
		c.ownClient = true
	})
}

// WithTopicFunc chooses each event's topic, overriding the topic given to
// New. An event for which it returns "" is dead-lettered (ErrNoTopic).
func WithTopicFunc[T any](fn func(dispatcher.Event[T]) string) Option {
	return optionFunc(func(c *config) { c.topicFunc = fn })
}

// WithKey sets each record's key from its event (a nil key: none, and the
// partitioner spreads such records). Default: the event's batch key when it
// has one, else no key. Records with the same key go to the same partition,
// where Kafka keeps their order.
func WithKey[T any](fn func(dispatcher.Event[T]) []byte) Option {
	return optionFunc(func(c *config) { c.keyFunc = fn })
}

// WithValue sets each record's value from its event. Default: the event's
// payload as the WAL stores it (msgpack, or the stream's codec when the
// processor has WithCodec). An event for which it returns an error is
// dead-lettered with that error as its reason.
func WithValue[T any](fn func(dispatcher.Event[T]) ([]byte, error)) Option {
	return optionFunc(func(c *config) { c.valueFunc = fn })
}

// funcs are the user functions of a config, typed for T.
type funcs[T any] struct {
	topic func(dispatcher.Event[T]) string
	key   func(dispatcher.Event[T]) []byte
	value func(dispatcher.Event[T]) ([]byte, error)
}

// validate checks the configuration for a sink of T and returns its user
// functions typed. Its errors wrap ErrInvalidOption.
func validate[T any](c *config, topic string) (funcs[T], error) {
	var f funcs[T]
	switch {
	case c.client != nil && c.ownClient:
		return f, fmt.Errorf("%w: WithClient and WithClientOptions: choose one", ErrInvalidOption)
	case c.client == nil && !c.ownClient:
		return f, fmt.Errorf("%w: a client is required (WithClient or WithClientOptions)", ErrInvalidOption)
	}
	var ok bool
	if c.topicFunc != nil {
		if f.topic, ok = c.topicFunc.(func(dispatcher.Event[T]) string); !ok || f.topic == nil {
			return f, fmt.Errorf("%w: WithTopicFunc: %T is not a non-nil func(dispatcher.Event[%s]) string", ErrInvalidOption, c.topicFunc, typeName[T]())
		}
	} else if topic == "" {
		return f, fmt.Errorf("%w: the topic is empty and WithTopicFunc is not set", ErrInvalidOption)
	}
	if c.keyFunc != nil {
		if f.key, ok = c.keyFunc.(func(dispatcher.Event[T]) []byte); !ok || f.key == nil {
			return f, fmt.Errorf("%w: WithKey: %T is not a non-nil func(dispatcher.Event[%s]) []byte", ErrInvalidOption, c.keyFunc, typeName[T]())
		}
	}
	if c.valueFunc != nil {
		if f.value, ok = c.valueFunc.(func(dispatcher.Event[T]) ([]byte, error)); !ok || f.value == nil {
			return f, fmt.Errorf("%w: WithValue: %T is not a non-nil func(dispatcher.Event[%s]) ([]byte, error)", ErrInvalidOption, c.valueFunc, typeName[T]())
		}
	}
	return f, nil
}

func typeName[T any]() string {
	var zero T
	return fmt.Sprintf("%T", any(&zero))[1:]
}
