package processor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// Factory makes the dispatcher and options of a stream when the manager
// first needs it (Apache APISIX's "one batch processor per configuration").
// WithStream is set by the manager and need not be passed.
type Factory[T any] func(stream string) (dispatcher.Dispatcher[T], []Option, error)

// Manager holds many named streams of one WAL file, each with its own
// processor, options and dispatcher. A stream's processor is created on
// first use and released after an idle period once it has nothing pending
// or in flight; using the name again creates it afresh at once. One Stop
// stops them all. Its methods are safe for concurrent use.
type Manager[T any] struct {
	log     *wal.Log
	ownsLog bool
	factory Factory[T]
	idle    time.Duration
	shared  []Option  // every stream's first options (OpenManager's opts)
	notes   *notifier // the manager's own listeners (Subscribe)

	mu        sync.Mutex // guards procs, stopped, recovered
	procs     map[string]*managed[T]
	stopped   bool
	stopDone  chan struct{} // closed when the first Stop has finished
	stopErr   error         // its result (set before stopDone closes)
	recovered map[string]RecoveryReport
	creating  sync.WaitGroup // acquires running a factory and New

	quit chan struct{}
	done chan struct{}
}

type managed[T any] struct {
	p        *Processor[T] // nil while being created
	users    int
	lastUsed time.Time
	created  chan struct{} // closed once creation ended (p set, or the entry removed)
	released chan struct{} // non-nil while being released; closed when done
}

// DefaultIdle is how long a stream's processor stays after its last use.
const DefaultIdle = 5 * time.Minute

// OpenManager opens (or creates) the WAL file at path and starts a
// processor for every stream that has work left from an earlier run. idle
// 0 means DefaultIdle. Stop closes the file.
//
// opts are options every stream starts with, before those its factory
// returns (which win): a logger, listeners (WithListener) or limits shared
// by all streams are given once here. WithStream has no place among them
// (ErrInvalidOption); the manager names each stream. walOpts (nil: the defaults)
// sets the file's durability for every stream (see WithSync): a factory
// may repeat it with WithSync, not change it. An unknown sync mode or
// ReadOnly is ErrInvalidOption.
func OpenManager[T any](path string, factory Factory[T], idle time.Duration, walOpts *wal.Options, opts ...Option) (*Manager[T], error) {
	if factory == nil {
		return nil, fmt.Errorf("%w: factory is required", ErrInvalidOption)
	}
	if walOpts != nil {
		c := config{walOpts: walOpts}
		if err := c.validateSync(); err != nil {
			return nil, err
		}
	}
	l, err := wal.Open(path, walOpts)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	m, err := NewManager(l, factory, idle, opts...)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	m.ownsLog = true
	return m, nil
}

// NewManager builds a manager on an open WAL; Stop does not close it. opts
// are every stream's first options, as for OpenManager.
func NewManager[T any](l *wal.Log, factory Factory[T], idle time.Duration, opts ...Option) (*Manager[T], error) {
	if l == nil {
		return nil, fmt.Errorf("%w: the WAL is required (NewManager got a nil *wal.Log)", ErrInvalidOption)
	}
	if factory == nil {
		return nil, fmt.Errorf("%w: factory is required", ErrInvalidOption)
	}
	if idle < 0 {
		return nil, fmt.Errorf("%w: idle period %s must not be negative", ErrInvalidOption, idle)
	}
	if idle == 0 {
		idle = DefaultIdle
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.stream != DefaultStream {
		return nil, fmt.Errorf("%w: WithStream(%q) among a manager's options: the manager names each stream", ErrInvalidOption, cfg.stream)
	}
	m := &Manager[T]{log: l, factory: factory, idle: idle, shared: opts, notes: newNotifier(cfg.logger),
		procs: map[string]*managed[T]{}, recovered: map[string]RecoveryReport{},
		quit: make(chan struct{}), done: make(chan struct{}), stopDone: make(chan struct{})}
	for _, name := range l.Streams() {
		s, err := l.Stream(name)
		if err != nil {
			return nil, err
		}
		if ev, _ := s.Stats().Outstanding(); ev > 0 {
			if _, err := m.acquire(name); err != nil {
				_, _, _ = m.stopAll(context.Background())
				m.notes.close()
				return nil, err
			}
			m.release(name)
		}
	}
	go m.janitor()
	return m, nil
}

// Enqueue enqueues ev on the named stream, creating its processor if
// needed. See Processor.Enqueue.
func (m *Manager[T]) Enqueue(ctx context.Context, stream string, ev T) error {
	ctx = orBackground(ctx)
	p, err := m.acquire(stream)
	if err != nil {
		return err
	}
	defer m.release(stream)
	return p.Enqueue(ctx, ev)
}

// Flush flushes every active stream.
func (m *Manager[T]) Flush(ctx context.Context) error {
	ctx = orBackground(ctx)
	var errs []error
	for _, name := range m.Streams() {
		p, err := m.acquire(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := p.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stream %q: %w", name, err))
		}
		m.release(name)
	}
	return errors.Join(errs...)
}

// Streams returns the names of the streams with an active processor.
func (m *Manager[T]) Streams() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.procs))
	for n, e := range m.procs {
		if e.p != nil && e.released == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Stats returns the stats of every stream in the file, active or not: a
// stream without a processor (released when idle, or never used by this
// process) is there with what the WAL knows (StreamStats), so a released
// stream holding dead letters, or an idle one with a backlog, stays
// visible. It does not touch the disk.
func (m *Manager[T]) Stats() map[string]Stats {
	names := m.log.Streams()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Stats, len(names))
	for n, e := range m.procs {
		if e.p != nil {
			out[n] = e.p.Stats()
		}
	}
	for _, n := range names {
		if _, ok := out[n]; ok {
			continue
		}
		if s, err := m.log.Stream(n); err == nil {
			out[n] = StreamStats(s.Stats())
		}
	}
	return out
}

// acquire returns the stream's processor, creating it if needed, and marks
// it in use so the janitor leaves it alone until release. The factory and
// the processor's recovery run outside the manager's lock: a stream being
// created holds up only the callers of that stream.
func (m *Manager[T]) acquire(name string) (*Processor[T], error) {
	for {
		m.mu.Lock()
		if m.stopped {
			m.mu.Unlock()
			return nil, ErrStopped
		}
		e, ok := m.procs[name]
		if ok && e.p == nil {
			wait := e.created
			m.mu.Unlock()
			<-wait // another caller is creating it
			continue
		}
		if ok && e.released != nil {
			wait := e.released
			m.mu.Unlock()
			<-wait // the old processor is being released; then start anew
			continue
		}
		if ok {
			e.users++
			m.mu.Unlock()
			return e.p, nil
		}
		e = &managed[T]{created: make(chan struct{})}
		m.procs[name] = e
		m.creating.Add(1)
		m.mu.Unlock()
		return m.create(name, e)
	}
}

// create runs the factory and New for e, a placeholder in procs, and
// either fills it in or removes it (also when the factory panics: the
// callers waiting for it then create the stream themselves).
func (m *Manager[T]) create(name string, e *managed[T]) (p *Processor[T], err error) {
	defer m.creating.Done()
	defer close(e.created)
	defer func() {
		m.mu.Lock()
		if e.p == nil && m.procs[name] == e {
			delete(m.procs, name)
		}
		m.mu.Unlock()
	}()
	d, opts, err := m.factory(name)
	if err != nil {
		return nil, fmt.Errorf("processor: factory for stream %q: %w", name, err)
	}
	all := make([]Option, 0, len(m.shared)+len(forwardedKinds)+len(opts)+1)
	all = append(all, m.shared...)
	for _, k := range forwardedKinds {
		all = append(all, WithListener(k, m.notes.emit))
	}
	all = append(append(all, opts...), WithStream(name))
	p, err = New(m.log, d, all...)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		_ = p.Stop(context.Background())
		return nil, ErrStopped
	}
	e.p, e.users, e.lastUsed = p, 1, time.Now()
	m.recovered[name] = p.Recovery()
	m.mu.Unlock()
	return p, nil
}

func (m *Manager[T]) release(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.procs[name]; ok {
		e.users--
		e.lastUsed = time.Now()
	}
}

// janitor releases idle streams that have nothing left to do.
func (m *Manager[T]) janitor() {
	defer close(m.done)
	t := time.NewTicker(max(m.idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
			m.releaseIdle()
		}
	}
}

func (m *Manager[T]) releaseIdle() {
	now := time.Now()
	m.mu.Lock()
	var victims []string
	for name, e := range m.procs {
		if e.p == nil {
			continue // being created
		}
		st := e.p.Stats()
		if e.users == 0 && e.released == nil && now.Sub(e.lastUsed) >= m.idle &&
			st.PendingEvents == 0 && st.InFlightEvents == 0 {
			e.released = make(chan struct{})
			victims = append(victims, name)
		}
	}
	m.mu.Unlock()
	for _, name := range victims {
		m.mu.Lock()
		e := m.procs[name]
		m.mu.Unlock()
		_ = e.p.Stop(context.Background()) // nothing pending: returns at once
		m.mu.Lock()
		delete(m.procs, name)
		close(e.released)
		m.mu.Unlock()
		m.notes.emit(Notification{Kind: StreamReleased, Stream: name})
	}
}

// Stop stops every stream's processor (see Processor.Stop; they stop in
// parallel and share ctx) and, if OpenManager opened the file, closes it.
// It waits for streams being created (a factory or recovery running) until
// ctx ends; one that finishes later stops its processor itself.
//
// Its error follows Processor.Stop's rules over all the streams: nil only
// when no stream has anything pending or in flight and nothing failed.
// Otherwise it is one *UndeliveredError (errors.Is(err, ErrUndelivered)),
// whose Left is the sum and whose Streams holds each stream that left
// events with its counts (Err: ctx's error if ctx ended a stream's
// drain), joined with the other errors, each when it applies: a stream
// still being created when ctx ended (wrapping ctx's error; its events
// are not counted), each stream's ErrStuck (naming the stream), and the
// error closing the file. Idempotent: later calls wait for the first to
// finish and return its result.
func (m *Manager[T]) Stop(ctx context.Context) error {
	ctx = orBackground(ctx)
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		<-m.stopDone
		return m.stopErr
	}
	m.stopped = true
	m.mu.Unlock()
	defer close(m.stopDone)
	close(m.quit)
	<-m.done
	// Wait for streams being created, as long as ctx allows: a processor
	// whose creation ends after this stops itself (create).
	var creating error
	created := make(chan struct{})
	go func() { m.creating.Wait(); close(created) }()
	select {
	case <-created:
	case <-ctx.Done():
		creating = fmt.Errorf("processor: stop: a stream is still being created: %w", ctx.Err())
	}
	left, cause, err := m.stopAll(ctx)
	err = errors.Join(creating, err)
	// The streams' notifiers are closed: nothing forwards any more. The
	// manager's listeners get what is queued for as long as a stream's
	// would (the default stop timeout, or ctx's deadline).
	deadline := time.Now().Add(DefaultStopTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	m.notes.closeBy(deadline)
	if m.ownsLog {
		err = errors.Join(err, m.log.Close())
	}
	m.stopErr = stopError(left, cause, err)
	return m.stopErr
}

// stopAll stops every stream's processor and returns what each left,
// ctx's error if it ended a stream's drain, and the streams' other errors.
func (m *Manager[T]) stopAll(ctx context.Context) (left map[string]Left, cause, err error) {
	m.mu.Lock()
	procs := make([]*managed[T], 0, len(m.procs))
	for _, e := range m.procs {
		if e.p != nil {
			procs = append(procs, e)
		}
	}
	m.mu.Unlock()
	res := make([]stopResult, len(procs))
	var wg sync.WaitGroup
	for i, e := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = e.p.stop(ctx)
		}()
	}
	wg.Wait()
	left = make(map[string]Left, len(procs))
	errs := make([]error, 0, len(procs))
	for i, r := range res {
		left[procs[i].p.cfg.stream] = r.left
		cause = cmp.Or(cause, r.cause)
		errs = append(errs, r.err)
	}
	return left, cause, errors.Join(errs...)
}
