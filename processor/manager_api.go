package processor

import (
	"context"
	"fmt"
	"slices"

	"github.com/walbatch/walbatch/wal"
)

// TryEnqueue enqueues ev on the named stream without waiting for space:
// ErrFull when the stream's pending limits are reached. See
// Processor.TryEnqueue.
func (m *Manager[T]) TryEnqueue(stream string, ev T) error {
	p, err := m.acquire(stream)
	if err != nil {
		return err
	}
	defer m.release(stream)
	return p.TryEnqueue(ev)
}

// EnqueueMany enqueues evs on the named stream in one commit, all or none.
// See Processor.EnqueueMany.
func (m *Manager[T]) EnqueueMany(ctx context.Context, stream string, evs []T) error {
	ctx = orBackground(ctx)
	p, err := m.acquire(stream)
	if err != nil {
		return err
	}
	defer m.release(stream)
	return p.EnqueueMany(ctx, evs)
}

// EnqueueAsync queues ev on the named stream and returns; cb learns the
// commit's outcome. See Processor.EnqueueAsync. The stream counts as in
// use until cb has been called, so it is never released with the event
// uncommitted.
func (m *Manager[T]) EnqueueAsync(stream string, ev T, cb func(error)) error {
	p, err := m.acquire(stream)
	if err != nil {
		return err
	}
	err = p.EnqueueAsync(ev, func(err error) {
		defer m.release(stream)
		if cb != nil {
			cb(err)
		}
	})
	if err != nil {
		m.release(stream) // refused: cb is not called
	}
	return err
}

// Subscribe adds a listener for one kind of notification from every stream,
// those active now and those created later, and for StreamReleased; it
// returns an ID for Unsubscribe. Notification.Stream says which stream.
// Listeners run on the manager's notification goroutine, in order per
// stream, under the rules of Listener (a slow one falls behind and loses
// notifications, counted nowhere per stream; a panic is recovered and
// logged with the manager's logger). A nil fn is not added (ID 0).
func (m *Manager[T]) Subscribe(kind Kind, fn Listener) int {
	if fn == nil {
		return 0
	}
	return m.notes.add(kind, fn)
}

// Unsubscribe removes a listener added by Subscribe; it reports whether
// the ID was known.
func (m *Manager[T]) Unsubscribe(id int) bool { return m.notes.remove(id) }

// Recovery returns what recovery found when each stream's processor was
// last created: at open for the streams with work left from an earlier run,
// at first use for the others. A stream created again after its release
// reports its latest recovery.
func (m *Manager[T]) Recovery() map[string]RecoveryReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]RecoveryReport, len(m.recovered))
	for name, r := range m.recovered {
		out[name] = r
	}
	return out
}

// Log returns the WAL the manager's streams share: for store.Handler
// (Log().Store()), recovery.VerifyLog or reading dead letters. The manager
// owns it when OpenManager opened it: do not close it yourself; Stop does.
//
// Shut a service down in this order: stop taking requests
// (http.Server.Shutdown), then Manager.Stop (it flushes and stops every
// stream; with OpenManager it closes the log), then, for a manager built
// with NewManager, close the log. A handler serving Log().Store() must be
// shut down before the log is closed.
func (m *Manager[T]) Log() *wal.Log { return m.log }

// DeadLetters calls fn for each dead letter of the named stream; see
// Processor.DeadLetters. A stream the file does not hold has none (it is
// not created).
func (m *Manager[T]) DeadLetters(stream string, fn func(DeadLetter[T]) error) error {
	return m.withExisting(stream, func(p *Processor[T]) error { return p.DeadLetters(fn) })
}

// RequeueDead moves the named stream's dead letters with these event IDs
// back to pending; see Processor.RequeueDead.
func (m *Manager[T]) RequeueDead(stream string, ids ...string) (n int, err error) {
	err = m.withExisting(stream, func(p *Processor[T]) error { n, err = p.RequeueDead(ids...); return err })
	return n, err
}

// RequeueAllDead moves every dead letter of the named stream back to
// pending; see Processor.RequeueAllDead.
func (m *Manager[T]) RequeueAllDead(stream string) (n int, err error) {
	err = m.withExisting(stream, func(p *Processor[T]) error { n, err = p.RequeueAllDead(); return err })
	return n, err
}

// PurgeDead deletes the named stream's dead letters with these event IDs;
// see Processor.PurgeDead.
func (m *Manager[T]) PurgeDead(stream string, ids ...string) (n int, err error) {
	err = m.withExisting(stream, func(p *Processor[T]) error { n, err = p.PurgeDead(ids...); return err })
	return n, err
}

// PurgeAllDead deletes every dead letter of the named stream; see
// Processor.PurgeAllDead.
func (m *Manager[T]) PurgeAllDead(stream string) (n int, err error) {
	err = m.withExisting(stream, func(p *Processor[T]) error { n, err = p.PurgeAllDead(); return err })
	return n, err
}

// withExisting runs fn on the processor of a stream the file holds,
// creating the processor if the stream is not active (a requeue needs it
// running to dispatch); a name the file does not hold is wal.ErrNoStream.
func (m *Manager[T]) withExisting(stream string, fn func(*Processor[T]) error) error {
	if !slices.Contains(m.log.Streams(), stream) {
		return fmt.Errorf("processor: stream %q: %w", stream, wal.ErrNoStream)
	}
	p, err := m.acquire(stream)
	if err != nil {
		return err
	}
	defer m.release(stream)
	return fn(p)
}
