package wal

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
)

// Stream is one named log in the file: its pending events, in-flight
// batches, dead letters and completion records. Its methods are safe for
// concurrent use.
type Stream struct {
	l    *Log
	name string
	key  []byte
	uid  [8]byte

	mu    sync.RWMutex // guards state, limits, codec
	state format.State // as last committed
	codec string       // the recorded codec (see Codec)
	maxEv int64        // pending limits; 0 = unlimited
	maxBy int64

	notify chan struct{} // signalled after each commit that appended events
	counts streamCounters

	oldest oldestMemo // OldestPendingTime's last answer in a format 2 file
}

func newStream(l *Log, name string, uid [8]byte, st format.State) *Stream {
	return &Stream{l: l, name: name, key: []byte(name), uid: uid, state: st, notify: make(chan struct{}, 1)}
}

func loadStream(l *Log, name string, b *bolt.Bucket) (*Stream, error) {
	if b == nil {
		return nil, fmt.Errorf("wal: stream %q: %w", name, store.ErrCorrupt)
	}
	uid := b.Get(format.KeyUID)
	if len(uid) != 8 {
		return nil, fmt.Errorf("wal: stream %q has no ID: %w", name, store.ErrCorrupt)
	}
	st, err := format.DecodeState(l.version, b.Get(format.KeyState))
	if err != nil {
		return nil, fmt.Errorf("wal: stream %q: %w", name, err)
	}
	for _, sub := range [][]byte{format.BucketEvents, format.BucketBatches, format.BucketDead, format.BucketDone} {
		if b.Bucket(sub) == nil {
			return nil, fmt.Errorf("wal: stream %q lacks bucket %q: %w", name, sub, store.ErrCorrupt)
		}
	}
	// The in-flight and completion-record counters are what the bounded
	// records say (stored too in format 1, derived again all the same).
	format.DeriveState(b, &st)
	var u [8]byte
	copy(u[:], uid)
	s := newStream(l, name, u, st)
	s.codec = string(b.Get(format.KeyCodec))
	return s, nil
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// Log returns the log the stream belongs to.
func (s *Stream) Log() *Log { return s.l }

// Stats returns the stream's counters as last committed. O(1).
func (s *Stream) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := stateStats(&s.state, s.name)
	st.MaxPendingEvents, st.MaxPendingBytes = s.maxEv, s.maxBy
	st.RetriedSinceOpen = s.counts.retried.Load()
	st.DeadLetteredSinceOpen = s.counts.deadLettered.Load()
	st.RefusedSinceOpen = s.counts.refused.Load()
	return st
}

// SetLimits sets the pending limits: Append fails with ErrFull when the
// stream's outstanding events (pending and in flight) would pass maxEvents,
// or their bytes would pass maxBytes. 0 means unlimited. Limits live in
// memory; each opener sets its own.
func (s *Stream) SetLimits(maxEvents, maxBytes int64) {
	s.mu.Lock()
	s.maxEv, s.maxBy = maxEvents, maxBytes
	s.mu.Unlock()
}

// Appended returns a channel that receives a signal (coalesced) after each
// commit that appended events to the stream. It is how a processor learns
// of new events without polling.
func (s *Stream) Appended() <-chan struct{} { return s.notify }

// EventID returns the ID an event appended at seq was given.
func (s *Stream) EventID(seq uint64) EventID { return eventID(s.uid, seq) }

// BatchID returns the stable ID of the batch with sequence number seq.
func (s *Stream) BatchID(seq uint64) string { return format.BatchID(s.uid, seq) }

// bucket returns the stream's bucket in tx.
func (s *Stream) bucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	root := tx.Bucket(format.BucketStreams)
	if root == nil {
		return nil, fmt.Errorf("wal: streams bucket missing: %w", store.ErrCorrupt)
	}
	b := root.Bucket(s.key)
	if b == nil {
		return nil, fmt.Errorf("wal: stream %q bucket missing: %w", s.name, store.ErrCorrupt)
	}
	return b, nil
}

func (s *Stream) sub(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	b, err := s.bucket(tx)
	if err != nil {
		return nil, err
	}
	sb := b.Bucket(name)
	if sb == nil {
		return nil, fmt.Errorf("wal: stream %q bucket %q missing: %w", s.name, name, store.ErrCorrupt)
	}
	if name[0] == 'e' || name[0] == 'd' {
		sb.FillPercent = 1.0 // keys only grow: pack pages full
	}
	return sb, nil
}

// putState stores st in the layout of the file's format version: in
// format 2 without the derived counters, which st still carries in memory
// (counts.go keeps them as every transition changes the records).
func (s *Stream) putState(tx *bolt.Tx, st *format.State) error {
	b, err := s.bucket(tx)
	if err != nil {
		return err
	}
	return b.Put(format.KeyState, st.Encode(s.l.version))
}

// current returns a copy of the state as last committed (the writer's
// groups stage their own copies; see group.go).
func (s *Stream) current() format.State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state
}

func (s *Stream) setState(st format.State) {
	s.mu.Lock()
	s.counts.countDead(s.state, st)
	s.state = st
	s.mu.Unlock()
}
