package processor

import (
	"context"

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
