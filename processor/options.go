package processor

import (
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"time"

	"github.com/walbatch/walbatch/wal"
)

// FullPolicy says what Enqueue does when the pending limits are reached.
type FullPolicy int

const (
	// Block waits until space frees up (batches complete or are
	// dead-lettered) or the context ends.
	Block FullPolicy = iota
	// FailFast returns ErrFull at once.
	FailFast
)

// Option configures a Processor. Options are validated at Open/New.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	stream          string
	batchSize       int
	batchBytes      int64
	maxAge          time.Duration
	inactive        time.Duration
	maxRetries      int
	retryDelay      time.Duration
	maxRetryDelay   time.Duration
	jitter          float64
	stopTimeout     time.Duration
	dispatchTimeout time.Duration
	startOnOpen     bool
	maxInFlight     int
	maxPendingEv    int64
	maxPendingBy    int64
	fullPolicy      FullPolicy
	keyFn           any // func(T) string, checked in New
	codec           any // Codec[T], checked in New (see WithCodec)
	codecSet        bool
	headersFn       any // func(T) map[string]string, checked in New
	logger          *slog.Logger
	listeners       []listenerReg
	sync            wal.SyncMode
	syncSet         bool // WithSync was given
	walOpts         *wal.Options
	handoff         Handoff
}

// Defaults, from the options of the Optimizely Go SDK's BatchEventProcessor and
// of Apache APISIX's batch processor (docs/processor.md maps each).
const (
	DefaultBatchSize       = 1000
	DefaultBatchBytes      = 3_500_000
	DefaultMaxAge          = 30 * time.Second
	DefaultInactiveTimeout = 5 * time.Second
	DefaultMaxRetries      = 10
	DefaultRetryDelay      = time.Second
	DefaultMaxRetryDelay   = 5 * time.Minute
	DefaultJitter          = 0.2
	DefaultStopTimeout     = 5 * time.Second
	DefaultDispatchTimeout = 30 * time.Second
	DefaultStream          = "default"
)

func defaultConfig() config {
	return config{
		stream:          DefaultStream,
		batchSize:       DefaultBatchSize,
		batchBytes:      DefaultBatchBytes,
		maxAge:          DefaultMaxAge,
		inactive:        DefaultInactiveTimeout,
		maxRetries:      DefaultMaxRetries,
		retryDelay:      DefaultRetryDelay,
		maxRetryDelay:   DefaultMaxRetryDelay,
		jitter:          DefaultJitter,
		stopTimeout:     DefaultStopTimeout,
		dispatchTimeout: DefaultDispatchTimeout,
		startOnOpen:     true,
		maxInFlight:     1,
		logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func (c *config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
	}
	switch {
	case c.stream == "" || len(c.stream) > 255:
		return bad("stream name %q must be 1 to 255 bytes", c.stream)
	case c.batchSize < 1:
		return bad("batch size %d must be at least 1", c.batchSize)
	case c.batchBytes < 1:
		return bad("batch byte limit %d must be at least 1", c.batchBytes)
	case c.maxAge <= 0:
		return bad("max age %s must be positive", c.maxAge)
	case c.inactive <= 0:
		return bad("inactive timeout %s must be positive", c.inactive)
	case c.maxRetries < 0:
		return bad("max retries %d must not be negative", c.maxRetries)
	case c.retryDelay < 0 || c.maxRetryDelay < c.retryDelay:
		return bad("retry delay %s must be >= 0 and <= the cap %s", c.retryDelay, c.maxRetryDelay)
	case !(c.jitter >= 0 && c.jitter <= 1): // NaN too
		return bad("jitter %g must be in [0, 1]", c.jitter)
	case c.stopTimeout <= 0:
		return bad("stop timeout %s must be positive", c.stopTimeout)
	case c.dispatchTimeout <= 0:
		return bad("dispatch timeout %s must be positive", c.dispatchTimeout)
	case c.maxInFlight < 1:
		return bad("max in-flight batches %d must be at least 1", c.maxInFlight)
	case c.maxPendingEv < 0 || c.maxPendingBy < 0:
		return bad("pending limits must not be negative")
	case c.maxPendingEv > 0 && c.maxPendingEv < int64(c.batchSize):
		return bad("pending event limit %d is below the batch size %d", c.maxPendingEv, c.batchSize)
	case c.fullPolicy != Block && c.fullPolicy != FailFast:
		return bad("unknown full policy %d", c.fullPolicy)
	case c.logger == nil:
		return bad("logger must not be nil")
	case c.keyFn != nil && reflect.ValueOf(c.keyFn).IsNil():
		return bad("batch key function must not be nil")
	case c.headersFn != nil && reflect.ValueOf(c.headersFn).IsNil():
		return bad("event headers function must not be nil")
	case c.handoff < HandoffAuto || c.handoff > HandoffOff:
		return bad("unknown handoff mode %d", c.handoff)
	}
	if err := c.validateSync(); err != nil {
		return err
	}
	for _, r := range c.listeners {
		if r.fn == nil {
			return bad("listener for %s must not be nil", r.kind)
		}
	}
	return nil
}

// validateSync checks the durability options (see WithSync): known modes,
// a log that can be written, and WithSync and WithWALOptions agreeing.
func (c *config) validateSync() error {
	known := func(m wal.SyncMode) bool { return m == wal.SyncAlways || m == wal.SyncNone }
	switch {
	case c.syncSet && !known(c.sync):
		return fmt.Errorf("%w: WithSync(%s): unknown sync mode", ErrInvalidOption, c.sync)
	case c.walOpts == nil:
		return nil
	case !known(c.walOpts.Sync):
		return fmt.Errorf("%w: WithWALOptions: unknown sync mode %s", ErrInvalidOption, c.walOpts.Sync)
	case c.walOpts.ReadOnly:
		return fmt.Errorf("%w: WithWALOptions: ReadOnly: a processor writes to its file", ErrInvalidOption)
	case c.syncSet && c.walOpts.Sync != wal.SyncAlways && c.walOpts.Sync != c.sync:
		return fmt.Errorf("%w: WithSync(%s) and WithWALOptions' Sync %s disagree", ErrInvalidOption, c.sync, c.walOpts.Sync)
	}
	return nil
}

// walOptions is what Open passes to wal.Open: WithWALOptions, with the
// sync mode of WithSync when it was given.
func (c *config) walOptions() wal.Options {
	var o wal.Options
	if c.walOpts != nil {
		o = *c.walOpts
	}
	if c.syncSet {
		o.Sync = c.sync
	}
	return o
}

// checkLog checks the options against a log that is already open (New,
// and the Manager's streams): durability was set where the file was
// opened, and an option that would set it otherwise is refused rather
// than ignored.
func (c *config) checkLog(l *wal.Log) error {
	mode := wal.SyncAlways
	if l.Store().NoSync() {
		mode = wal.SyncNone
	}
	switch {
	case c.walOpts != nil:
		return fmt.Errorf("%w: WithWALOptions applies where the file is opened (Open, OpenManager); this log is open already", ErrInvalidOption)
	case c.syncSet && c.sync != mode:
		return fmt.Errorf("%w: WithSync(%s): the log was opened with %s, and durability is set where the file is opened", ErrInvalidOption, c.sync, mode)
	}
	return nil
}

// WithStream names the stream in the WAL file. Default "default".
func WithStream(name string) Option { return optionFunc(func(c *config) { c.stream = name }) }

// WithBatchSize sets the most events in a batch (the Optimizely SDK's batch_size and
// batch_max_size). A batch goes out as soon as it is full; 1 dispatches
// every event on its own at once. Default 1000.
func WithBatchSize(n int) Option { return optionFunc(func(c *config) { c.batchSize = n }) }

// WithBatchBytes sets the most payload bytes (encoded events) in a
// batch. A batch is cut before it would pass it; Enqueue refuses a single
// larger event with ErrEventTooLarge. Default 3.5 MB (the Optimizely SDK's
// payload limit).
func WithBatchBytes(n int64) Option { return optionFunc(func(c *config) { c.batchBytes = n }) }

// WithMaxAge sets how long the oldest pending event may wait before its
// batch goes out whatever its size (flush_interval / buffer_duration),
// measured from that event's enqueue time. An event requeued from the
// dead letters (RequeueDead) waits at most this long after the requeue:
// it goes behind the events pending then, which are due by then, and its
// own, older, enqueue time makes it due once it is first. Default 30s.
func WithMaxAge(d time.Duration) Option { return optionFunc(func(c *config) { c.maxAge = d }) }

// WithInactiveTimeout flushes pending events after this long without a new
// event (inactive_timeout); each enqueue re-arms it: Enqueue and
// EnqueueMany when called and again once committed, EnqueueAsync when
// called. Default 5s.
func WithInactiveTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.inactive = d })
}

// WithMaxRetries sets how many times a failed batch is retried before it
// goes to dead letters (max_retry_count). 0 means one attempt only.
// Default 10.
func WithMaxRetries(n int) Option { return optionFunc(func(c *config) { c.maxRetries = n }) }

// WithRetryDelay sets the delay before the first retry (retry_delay); it
// doubles with each further attempt up to max, with jitter. A sink's
// Retry-After replaces the computed delay. Every retry delay, computed or
// asked for, is clamped to between 10ms and a year: a base of 0 or a
// Retry-After of a nanosecond cannot make a failing sink a hot loop, and
// no delay (math.MaxInt64 included) overflows the next attempt time.
// Defaults 1s and 5m.
func WithRetryDelay(base, max time.Duration) Option {
	return optionFunc(func(c *config) { c.retryDelay, c.maxRetryDelay = base, max })
}

// WithJitter spreads retry delays by up to this fraction either way, so
// many processors do not retry in step. Default 0.2.
func WithJitter(f float64) Option { return optionFunc(func(c *config) { c.jitter = f }) }

// WithStopTimeout bounds how long Stop waits for pending events to be
// delivered (timeout_interval). What is not delivered by then stays in the
// WAL for the next open. Default 5s.
func WithStopTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.stopTimeout = d })
}

// WithDispatchTimeout bounds each Dispatch call; the context passed to the
// dispatcher ends after it and the attempt counts as a retryable failure.
// Default 30s.
func WithDispatchTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.dispatchTimeout = d })
}

// WithStartOnOpen says whether dispatching begins at Open (start_on_init).
// When false, Enqueue still persists events; they are dispatched after
// Start. Default true.
func WithStartOnOpen(b bool) Option { return optionFunc(func(c *config) { c.startOnOpen = b }) }

// WithMaxInFlight sets how many batches may be in flight (dispatching or
// waiting to retry) at once. With 1, events are dispatched in enqueue order;
// with more, batches may complete out of order and a retried batch can be
// overtaken by later ones. Default 1.
//
// While all of them are dispatching, one more full batch may be sealed
// ahead (committed, counted in Stats as in flight) so that it is ready the
// moment they complete; it is dispatched only in its turn.
func WithMaxInFlight(n int) Option { return optionFunc(func(c *config) { c.maxInFlight = n }) }

// WithPendingLimits bounds the events (and their bytes) acknowledged and not
// yet completed: pending, in flight or waiting to retry. Dead letters do not
// count. 0 means unlimited (bounded by the disk). Default unlimited.
func WithPendingLimits(events, bytes int64) Option {
	return optionFunc(func(c *config) { c.maxPendingEv, c.maxPendingBy = events, bytes })
}

// WithFullPolicy sets what Enqueue does at the pending limits: Block (the
// default) or FailFast.
func WithFullPolicy(p FullPolicy) Option { return optionFunc(func(c *config) { c.fullPolicy = p }) }

// WithBatchKey partitions batches: events with different keys never share a
// batch (the Optimizely SDK's "new datafile revision" flush). A batch is a run of
// consecutive events with the same key; enqueue order is kept. Default: no
// key; a nil fn is refused with ErrInvalidOption.
func WithBatchKey[T any](fn func(T) string) Option {
	return optionFunc(func(c *config) { c.keyFn = fn })
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithSync sets the file's durability when Open opens it: SyncAlways
// (default; survives power loss) or SyncNone (survives process death only).
//
// Durability belongs to the open file, so it is set where the file is
// opened, once: by Open (WithSync, or the Sync field of WithWALOptions),
// by OpenManager (its *wal.Options) or by wal.Open; every processor on the
// file has that durability. A processor built on a log that is open
// already (New, a Manager's streams) may repeat WithSync only with the
// log's mode: another mode is refused with ErrInvalidOption, never
// ignored. An unknown mode, and a WithSync that disagrees with a Sync
// field set in WithWALOptions, are ErrInvalidOption too.
func WithSync(m wal.SyncMode) Option {
	return optionFunc(func(c *config) { c.sync, c.syncSet = m, true })
}

// WithWALOptions passes further options to wal.Open when Open opens the
// file. Its Sync field is used unless WithSync is given (see WithSync for
// the rule); ReadOnly is refused. New, whose log is open already, refuses
// it with ErrInvalidOption.
func WithWALOptions(o wal.Options) Option { return optionFunc(func(c *config) { c.walOpts = &o }) }

// WithListener registers a notification listener at construction, so it
// sees the Recovered notification of Open. A nil fn is refused with
// ErrInvalidOption.
func WithListener(kind Kind, fn Listener) Option {
	return optionFunc(func(c *config) { c.listeners = append(c.listeners, listenerReg{kind, fn}) })
}
