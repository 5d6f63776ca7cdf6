package format

import bolt "go.etcd.io/bbolt"

// Package wal sets these when it is initialized, so that recovery can read
// and repair a stream's counters without wal's public API offering it. s
// is a *wal.Stream (this package cannot name the type: wal imports it).
var (
	streamState   func(s any) State
	streamRewrite func(s any, fn func(*bolt.Tx, *State) error) error
)

// SetStreamHooks is called by package wal's init, and by nothing else.
func SetStreamHooks(state func(s any) State, rewrite func(s any, fn func(*bolt.Tx, *State) error) error) {
	streamState, streamRewrite = state, rewrite
}

// StreamState returns the counters of the *wal.Stream s as last committed.
func StreamState(s any) State { return streamState(s) }

// RewriteStream runs fn in a write transaction with a copy of the
// *wal.Stream s's committed counters. If fn returns nil, the counters fn
// leaves in st are stored in the same transaction and, once it commits,
// become the stream's in-memory state. fn may change anything in the
// stream's buckets (reach them with RawStreamOf); it must leave st
// describing what it leaves, but for the derived counters, which are
// derived again from the records fn leaves (DeriveState). Recovery uses
// it to repair what it finds at open.
func RewriteStream(s any, fn func(tx *bolt.Tx, st *State) error) error { return streamRewrite(s, fn) }
