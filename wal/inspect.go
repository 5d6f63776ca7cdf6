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

// rewrite runs fn in a write transaction with a copy of the stream's
// committed counters. If fn returns nil, the counters fn leaves in st are
// stored in the same transaction and, once it commits, become the stream's
// in-memory state. fn may change anything in the stream's buckets; it must
// leave st describing what it leaves. Recovery uses it to repair what it
// finds at open.
func (s *Stream) rewrite(fn func(tx *bolt.Tx, st *format.State) error) error {
	var st format.State
	err := s.l.update(func(tx *bolt.Tx) error {
		st = s.current()
		if err := fn(tx, &st); err != nil {
			return err
		}
		return s.putState(tx, &st)
	}, func() { s.setState(st) })
	if err != nil {
		return fmt.Errorf("wal: rewrite %q: %w", s.name, err)
	}
	return nil
}
