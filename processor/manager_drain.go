package processor

import (
	"context"
	"errors"
	"fmt"
)

// Drain returns nil once nothing is pending or in flight in any stream of
// the manager's file: every event acknowledged so far, in this process or
// one before it (recovered at open), has been delivered or moved to dead
// letters. It differs from Flush as Processor.Drain does: Flush waits for
// the events enqueued before the call, Drain for every stream to be empty,
// so events enqueued on any stream while it waits are waited for too, and
// under producers that never pause it returns only when ctx ends (with
// ctx's error; the events stay queued). A stream with a backlog always has
// a processor (the manager starts one at open and releases none that
// holds events); should one have none, Drain starts it. A stream whose
// processor fails is reported in the error by name. After Stop began,
// Drain returns ErrStopped.
func (m *Manager[T]) Drain(ctx context.Context) error {
	ctx = orBackground(ctx)
	for {
		busy, err := m.backlogged()
		if err != nil || len(busy) == 0 {
			return err
		}
		var errs []error
		for _, name := range busy {
			if err := m.drainStream(ctx, name); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
}

// backlogged returns the streams of the file with events pending or in
// flight, or ErrStopped once Stop began.
func (m *Manager[T]) backlogged() ([]string, error) {
	m.mu.Lock()
	stopped := m.stopped
	m.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	var busy []string
	for _, name := range m.log.Streams() {
		s, err := m.log.Stream(name)
		if err != nil {
			return nil, fmt.Errorf("stream %q: %w", name, err)
		}
		if st := s.Stats(); st.PendingEvents > 0 || st.InFlightEvents > 0 {
			busy = append(busy, name)
		}
	}
	return busy, nil
}

// drainStream drains one stream, holding its processor meanwhile.
func (m *Manager[T]) drainStream(ctx context.Context, name string) error {
	p, err := m.acquire(name)
	if err != nil {
		return fmt.Errorf("stream %q: %w", name, err)
	}
	defer m.release(name)
	if err := p.Drain(ctx); err != nil {
		return fmt.Errorf("stream %q: %w", name, err)
	}
	return nil
}
