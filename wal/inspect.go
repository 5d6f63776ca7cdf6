package wal

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// This file gives package recovery (and walctl) the repair access to a
// stream that the public API leaves out, through internal/format's hooks:
// the persisted counters and a write transaction that replaces them.

func init() {
	format.SetStreamHooks(
		func(s any) format.State { return s.(*Stream).current() },
		func(s any, fn func(*bolt.Tx, *format.State) error) error { return s.(*Stream).rewrite(fn) },
	)
}

// UID returns the stream's random ID, the first half of every event ID and
// the prefix of every batch ID.
func (s *Stream) UID() [8]byte { return s.uid }

// rewrite has the writer run fn in its next group's transaction with a copy
// of the stream's counters as the requests before it leave them. If fn
// returns nil, the counters fn leaves in st are
// stored in the same transaction and, once it commits, become the stream's
// in-memory state. fn may change anything in the stream's buckets; it must
// leave st describing what it leaves. Recovery uses it to repair what it
// finds at open. The derived counters (format.DeriveState) are derived
// again from the records fn leaves, whatever fn left in them.
func (s *Stream) rewrite(fn func(tx *bolt.Tx, st *format.State) error) error {
	err := s.l.write(s, func(tx *bolt.Tx, st *format.State) error {
		if err := fn(tx, st); err != nil {
			return err
		}
		b, err := s.bucket(tx)
		if err != nil {
			return err
		}
		format.DeriveState(b, st)
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("wal: rewrite %q: %w", s.name, err)
	}
	return nil
}
