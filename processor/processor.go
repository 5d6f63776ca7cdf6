package processor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// Processor batches events of type T through a durable stream of a WAL
// file and dispatches them. Its methods are safe for concurrent use.
type Processor[T any] struct {
	cfg     config
	log     *wal.Log
	ownsLog bool
	s       *wal.Stream
	d       dispatcher.Dispatcher[T]
	keyFn   func(T) string
	hdrFn   func(T) map[string]string // see WithEventHeaders
	notes   *notifier
	logs    *logThrottle // rate-limits repeated failure logs

	lastEnqueue atomic.Int64 // unix ns of the last acknowledged enqueue
	lastKey     atomic.Pointer[string]
	keyChanged  atomic.Bool

	mu       sync.Mutex // guards the lifecycle fields below
	started  bool
	stopping bool
	stopped  chan struct{} // closed when Stop has finished
	stopRes  stopResult    // what the first Stop found (set before stopped closes)
	stopErr  error         // the error Stop returns, made of stopRes
	loopDone chan struct{} // closed when the loop exits (nil before Start)
	stuck    []string      // IDs of the batches whose dispatch the loop left running at Stop (set before loopDone closes)

	stopCh   chan time.Time // Stop asks the loop to drain until the deadline
	flushCh  chan *flushReq
	wakeCh   chan struct{}
	spaceMu  sync.Mutex
	spaceCh  chan struct{} // closed and replaced when a batch completes
	recovery RecoveryReport

	acks     acker         // runs EnqueueAsync's callbacks
	calls    sync.Pool     // of *asyncCall[T]: EnqueueAsync calls on their way through the WAL
	boxes    sync.Pool     // of *T: the encoder takes an event by pointer (see encodeEvent)
	encByPtr bool          // encodeByPointer[T]()
	hot      *handoff[T]   // values of committed events for dispatch; nil: always decode
	fast     *fastPlan     // the fast codec's plan for T; nil: msgpack only (see fastcodec.go)
	codec    *userCodec[T] // WithCodec's codec; nil: msgpack (see usercodec.go)

	delivered    atomic.Int64
	handedOff    atomic.Int64 // events dispatched from the handoff, not decoded
	retried      atomic.Int64
	deadLettered atomic.Int64
}

// Open opens (or creates) the WAL file at path, runs recovery, and starts
// dispatching unless WithStartOnOpen(false). The processor owns the file:
// Stop closes it. d receives the batches.
func Open[T any](path string, d dispatcher.Dispatcher[T], opts ...Option) (*Processor[T], error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	wo := cfg.walOptions()
	l, err := wal.Open(path, &wo)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	p, err := newProcessor[T](l, d, cfg)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	p.ownsLog = true
	p.begin()
	return p, nil
}

// New builds a processor for one named stream (WithStream) of a WAL that is
// already open, so several streams share one file. Stop does not close l.
// The processor has l's durability (see WithSync).
func New[T any](l *wal.Log, d dispatcher.Dispatcher[T], opts ...Option) (*Processor[T], error) {
	if l == nil {
		return nil, fmt.Errorf("%w: the WAL is required (New got a nil *wal.Log)", ErrInvalidOption)
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := cfg.checkLog(l); err != nil {
		return nil, err
	}
	p, err := newProcessor[T](l, d, cfg)
	if err != nil {
		return nil, err
	}
	p.begin()
	return p, nil
}

func buildConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	return cfg, cfg.validate()
}

func newProcessor[T any](l *wal.Log, d dispatcher.Dispatcher[T], cfg config) (*Processor[T], error) {
	if isNil(d) {
		return nil, fmt.Errorf("%w: dispatcher is required (got %T(nil))", ErrInvalidOption, d)
	}
	var keyFn func(T) string
	if cfg.keyFn != nil {
		fn, ok := cfg.keyFn.(func(T) string)
		if !ok {
			return nil, fmt.Errorf("%w: batch key function is %T, want func(%T) string", ErrInvalidOption, cfg.keyFn, *new(T))
		}
		keyFn = fn
	}
	hdrFn, ok := cfg.headersFn.(func(T) map[string]string)
	if cfg.headersFn != nil && !ok {
		return nil, fmt.Errorf("%w: event headers function is %T, want func(%T) map[string]string", ErrInvalidOption, cfg.headersFn, *new(T))
	}
	codec, err := resolveCodec[T](&cfg)
	if err != nil {
		return nil, err
	}
	hot, err := newCodecHandoff[T](codec, cfg.handoff, cfg.batchSize)
	if err != nil {
		return nil, err
	}
	s, err := l.Stream(cfg.stream)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	if err := adoptStreamCodec(s, codec.contentType()); err != nil {
		return nil, err
	}
	s.SetLimits(cfg.maxPendingEv, cfg.maxPendingBy)
	p := &Processor[T]{
		cfg: cfg, log: l, s: s, d: d, keyFn: keyFn, hdrFn: hdrFn, encByPtr: encodeByPointer[T](), hot: hot,
		fast: fastPlanFor(codec), codec: codec,
		notes:   newNotifier(cfg.logger),
		logs:    newLogThrottle(logEvery),
		stopped: make(chan struct{}),
		stopCh:  make(chan time.Time, 1),
		flushCh: make(chan *flushReq),
		wakeCh:  make(chan struct{}, 1),
		spaceCh: make(chan struct{}),
	}
	p.acks.logger = cfg.logger
	for _, r := range cfg.listeners {
		p.notes.add(r.kind, r.fn)
	}
	p.recovery, err = recoverStream(s)
	if err != nil {
		p.notes.close()
		return nil, err
	}
	if p.recovery.PendingEvents > 0 {
		// Events left by an earlier run: the inactivity timer counts from
		// the open, as if they had just been enqueued.
		p.lastEnqueue.Store(time.Now().UnixNano())
	}
	return p, nil
}

// isNil reports whether d is nil or holds a nil pointer or func (a nil
// dispatcher.Func, a nil *HTTP): calling it could only panic.
func isNil[T any](d dispatcher.Dispatcher[T]) bool {
	if d == nil {
		return true
	}
	v := reflect.ValueOf(d)
	switch v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// begin reports recovery and starts the loop when start on open is on.
func (p *Processor[T]) begin() {
	rep := p.recovery
	p.notes.emit(Notification{Kind: Recovered, Stream: p.cfg.stream, Recovery: &rep})
	if rep.InFlightBatches > 0 || rep.PendingEvents > 0 || len(rep.Repaired) > 0 {
		p.cfg.logger.Info("walbatch: recovered", "stream", p.cfg.stream, "report", rep.String(), "repaired", rep.Repaired)
	}
	if len(rep.Problems) > 0 {
		p.cfg.logger.Error("walbatch: damage found at open; run walctl verify and repair on the closed file",
			"stream", p.cfg.stream, "problems", rep.Problems)
	}
	if p.cfg.startOnOpen {
		_ = p.Start()
	}
}

// Start begins dispatching on a processor opened with start on open off.
// Events enqueued before it were persisted and are dispatched now. Start on
// a started processor does nothing; after Stop it returns ErrStopped.
func (p *Processor[T]) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return ErrStopped
	}
	if p.started {
		return nil
	}
	p.started = true
	p.loopDone = make(chan struct{})
	l := newLoop(p)
	go l.run()
	return nil
}

// Enqueue appends ev to the WAL and returns once it is committed (fsynced
// under SyncAlways): from then on it will be dispatched or dead-lettered,
// whatever happens to the process. At the pending limits it waits until
// space frees up or ctx ends (ctx's error is returned), or under FailFast
// returns ErrFull. An event whose encoding is larger than the batch byte
// limit gets ErrEventTooLarge; after Stop began, ErrStopped. On any error
// the event was not acknowledged.
func (p *Processor[T]) Enqueue(ctx context.Context, ev T) error {
	return p.enqueue(orBackground(ctx), ev, p.cfg.fullPolicy)
}

// TryEnqueue is Enqueue that never waits for space: at the pending limits it
// returns ErrFull whatever the policy. It still waits for the commit.
func (p *Processor[T]) TryEnqueue(ev T) error {
	return p.enqueue(context.Background(), ev, FailFast)
}

func (p *Processor[T]) enqueue(ctx context.Context, ev T, policy FullPolicy) error {
	if p.isStopping() {
		return ErrStopped
	}
	e := getEncoder()
	defer e.release()
	payload, err := p.encodeEvent(e, ev)
	if err != nil {
		return fmt.Errorf("processor: encode event: %w", err)
	}
	if int64(len(payload)) > p.cfg.batchBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrEventTooLarge, len(payload), p.cfg.batchBytes)
	}
	headers, err := p.headersOf(ev)
	if err != nil {
		return err
	}
	key := ""
	if p.keyFn != nil {
		key = p.keyFn(ev)
	}
	for {
		space := p.spaceSignal()
		p.armInactivity()
		c := p.hot.carry(nil, &ev)
		_, err := p.s.AppendEntryThen(wal.Entry{Key: key, Payload: payload, Headers: headers}, c.thenFn())
		c.release()
		if err == nil {
			p.acknowledged(key)
			return nil
		}
		if !errors.Is(err, wal.ErrFull) {
			return p.mapErr(err)
		}
		if policy == FailFast {
			return fmt.Errorf("%w: stream %q", ErrFull, p.cfg.stream)
		}
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.stopped:
			return ErrStopped
		}
		if p.isStopping() {
			return ErrStopped
		}
	}
}

// EnqueueMany appends evs in one commit, all or none, and returns once they
// are committed: the fast path for a producer with many events at hand.
// Limits and errors are those of Enqueue, applied to evs as a whole.
func (p *Processor[T]) EnqueueMany(ctx context.Context, evs []T) error {
	ctx = orBackground(ctx)
	if p.isStopping() {
		return ErrStopped
	}
	ents := getEntries(len(evs))
	defer putEntries(ents)
	entries := *ents
	e := getEncoder()
	defer e.release() // entries alias its buffer until AppendMany has copied them
	err := p.encodeEvents(e, evs, func(i int, payload []byte) error {
		if int64(len(payload)) > p.cfg.batchBytes {
			return fmt.Errorf("%w: event %d: %d bytes, limit %d", ErrEventTooLarge, i, len(payload), p.cfg.batchBytes)
		}
		entries[i].Payload = payload
		h, err := p.headersOf(evs[i])
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		entries[i].Headers = h
		if p.keyFn != nil {
			entries[i].Key = p.keyFn(evs[i])
		}
		return nil
	})
	if err != nil {
		return err
	}
	for {
		space := p.spaceSignal()
		p.armInactivity()
		var c *carrier[T]
		if len(evs) > 0 {
			c = p.hot.carry(evs, nil)
		}
		_, err := p.s.AppendManyThen(entries, c.thenFn())
		c.release()
		if err == nil {
			if len(entries) > 0 {
				p.acknowledged(entries[len(entries)-1].Key)
			}
			return nil
		}
		if !errors.Is(err, wal.ErrFull) {
			return p.mapErr(err)
		}
		if p.cfg.fullPolicy == FailFast {
			return fmt.Errorf("%w: stream %q", ErrFull, p.cfg.stream)
		}
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.stopped:
			return ErrStopped
		}
		if p.isStopping() {
			return ErrStopped // as Enqueue: no append begins after Stop began
		}
	}
}

// entryPool holds EnqueueMany's slices of entries: the WAL copies them
// before AppendMany returns.
var entryPool sync.Pool // of *[]wal.Entry

// getEntries returns a slice of n zero entries, from the pool when one
// there is large enough.
func getEntries(n int) *[]wal.Entry {
	p, _ := entryPool.Get().(*[]wal.Entry)
	if p == nil || cap(*p) < n {
		s := make([]wal.Entry, n)
		return &s
	}
	*p = (*p)[:n]
	return p
}

// putEntries clears the entries (they alias the encoder's buffer and the
// caller's headers) and puts them back, unless they are many.
func putEntries(p *[]wal.Entry) {
	clear(*p)
	if cap(*p) <= 1<<14 {
		entryPool.Put(p)
	}
}

// encodeMsgpack encodes ev into e's buffer (see encodeOne). The encoder takes
// the event through an interface, which would move a parameter to the heap
// on every call; a pooled box holds the copy instead.
func (p *Processor[T]) encodeMsgpack(e *encoder, ev T) ([]byte, error) {
	if !p.encByPtr && p.fast == nil {
		// Through the pointer msgpack would copy each omitempty field to
		// the heap (see encodeByPointer); the fast codec copies nothing,
		// so it takes the box.
		return p.encodeCopy(e, ev)
	}
	box, _ := p.boxes.Get().(*T)
	if box == nil {
		box = new(T)
	}
	*box = ev
	b, err := encodeOne(e, box, true, p.fast)
	var zero T
	*box = zero // keep no reference to the caller's data
	p.boxes.Put(box)
	return b, err
}

// encodeCopy encodes ev through a pointer to its own copy, which moves to
// the heap: in a function of its own, so that encodeMsgpack's ev does not
// on the boxed path.
func (p *Processor[T]) encodeCopy(e *encoder, ev T) ([]byte, error) {
	return encodeOne(e, &ev, false, p.fast)
}

// orBackground treats a nil context as context.Background(), as the
// package doc promises for every method taking one.
func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

func (p *Processor[T]) mapErr(err error) error {
	if errors.Is(err, wal.ErrClosed) {
		return ErrStopped
	}
	return fmt.Errorf("processor: %w", err)
}

// acknowledged re-arms the inactivity timer and notes a key change, which
// closes a batch-key run.
func (p *Processor[T]) acknowledged(key string) {
	p.lastEnqueue.Store(time.Now().UnixNano())
	p.keyAcknowledged(key)
}

// keyAcknowledged is acknowledged without re-arming the timer: for
// EnqueueAsync, whose inactivity counts from the call (armInactivity), the
// caller not waiting for the commit; a clock read per event saved.
func (p *Processor[T]) keyAcknowledged(key string) {
	if p.keyFn != nil {
		k := key // only here: taking key's address would move it to the heap on every call
		if old := p.lastKey.Swap(&k); old != nil && *old != key {
			p.keyChanged.Store(true)
			// The loop may have looked at the new event before this
			// store: wake it, or the closed run waits for a timer.
			select {
			case p.wakeCh <- struct{}{}:
			default:
			}
		}
	}
}

// armInactivity re-arms the inactivity timer before an append: the loop
// can see the new event as soon as it is committed, before acknowledged
// runs, and must not take the previous enqueue's time for this one's.
func (p *Processor[T]) armInactivity() { p.lastEnqueue.Store(time.Now().UnixNano()) }

func (p *Processor[T]) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

func (p *Processor[T]) spaceSignal() <-chan struct{} {
	p.spaceMu.Lock()
	defer p.spaceMu.Unlock()
	return p.spaceCh
}

// freed wakes every Enqueue waiting for space.
func (p *Processor[T]) freed() {
	p.spaceMu.Lock()
	close(p.spaceCh)
	p.spaceCh = make(chan struct{})
	p.spaceMu.Unlock()
}

// Subscribe adds a listener for one kind of notification and returns an ID
// for Unsubscribe. A nil fn is not added: Subscribe returns 0, an ID that
// Unsubscribe does not know.
func (p *Processor[T]) Subscribe(kind Kind, fn Listener) int {
	if fn == nil {
		return 0
	}
	return p.notes.add(kind, fn)
}

// Unsubscribe removes a listener; it reports whether the ID was known.
func (p *Processor[T]) Unsubscribe(id int) bool { return p.notes.remove(id) }

// Stream returns the WAL stream the processor works on.
func (p *Processor[T]) Stream() *wal.Stream { return p.s }

// Recovery returns what recovery found at open.
func (p *Processor[T]) Recovery() RecoveryReport { return p.recovery }
