package format

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/store"
)

// EventCursor walks the events a stream's events bucket holds, in sequence
// order, one event at a time across values of both forms (see Value). It
// reads what values hold, not what is live: an event a value still holds
// may have left the stream (see Live). It is valid for its transaction
// only, like the bbolt cursor under it.
type EventCursor struct {
	c    *bolt.Cursor
	uid  [8]byte
	runs bool
	last uint64 // the stream's last sequence number: where the last value may end

	val Value
	i   int
	ok  bool
	err error
}

// NewEventCursor returns a cursor over events, the events bucket of the
// stream with uid uid. runs is whether the file may hold runs (format 2);
// last is the stream's last sequence number (NextSeq-1), which bounds a
// damaged last run.
func NewEventCursor(events *bolt.Bucket, uid [8]byte, runs bool, last uint64) *EventCursor {
	return &EventCursor{c: events.Cursor(), uid: uid, runs: runs, last: last}
}

// Seek moves to the first event with sequence number seq or above that a
// value holds, and reports whether there is one. A key that is not a
// sequence number (or a nested bucket) ends the walk with Err set.
func (e *EventCursor) Seek(seq uint64) bool {
	e.ok, e.err = false, nil
	k, v := e.c.Seek(SeqKey(seq))
	at, ok := ParseSeqKey(k)
	if e.runs && seq > 1 && (!ok || at != seq) {
		// No value under seq itself: one below may hold it. (A value
		// under seq does: values never overlap. Looking only then keeps
		// a seek to an envelope of a migrated format 1 file one search.)
		if e.seekInto(seq) {
			return true
		}
		if e.err != nil {
			return false
		}
		k, v = e.c.Seek(SeqKey(seq))
		at, ok = ParseSeqKey(k)
	}
	if k == nil {
		return false
	}
	if !ok || v == nil {
		return e.bad(k)
	}
	e.load(at, v)
	e.i, e.ok = 0, true
	return true
}

// seekInto finds a value under a key below seq that holds seq. A value
// holds at most MaxRunEvents events, so its key is at most that far below:
// the walk reads the keys from there (a few runs; bbolt's Prev and Last
// are not used, as they can stop at, or loop on, leaves emptied earlier in
// the same transaction). A key that is not a sequence number is passed
// over there, as a format 1 seek passes the keys below seq.
func (e *EventCursor) seekInto(seq uint64) bool {
	from := uint64(1)
	if seq > MaxRunEvents {
		from = seq - (MaxRunEvents - 1)
	}
	var last uint64
	var lastV []byte
	for k, v := e.c.Seek(SeqKey(from)); k != nil; k, v = e.c.Next() {
		at, ok := ParseSeqKey(k)
		if !ok || v == nil {
			continue // holds no event: only a walk that reaches it fails
		}
		if at >= seq {
			break
		}
		last, lastV = at, v
	}
	if lastV == nil {
		return false
	}
	e.c.Seek(SeqKey(last))
	if e.load(last, lastV); e.val.Last() < seq {
		return false
	}
	e.i, e.ok = int(seq-last), true
	return true
}

// Next moves to the next event a value holds and reports whether there is
// one.
func (e *EventCursor) Next() bool {
	if !e.ok {
		return false
	}
	if e.i+1 < e.val.Len() {
		e.i++
		return true
	}
	return e.NextValue()
}

// NextValue moves to the first event of the next value.
func (e *EventCursor) NextValue() bool {
	if !e.ok {
		return false
	}
	e.ok = false
	k, v := e.c.Next()
	if k == nil {
		return false
	}
	at, ok := ParseSeqKey(k)
	if !ok || v == nil {
		return e.bad(k)
	}
	e.load(at, v)
	e.i, e.ok = 0, true
	return true
}

// Seq returns the sequence number of the current event.
func (e *EventCursor) Seq() uint64 { return e.val.Key + uint64(e.i) }

// Value returns the value holding the current event, and Index the event's
// place in it.
func (e *EventCursor) Value() *Value { return &e.val }

// Index returns the current event's place in its value.
func (e *EventCursor) Index() int { return e.i }

// Event decodes and checks the current event (Value.Event).
func (e *EventCursor) Event() (Record, error) { return e.val.Event(e.i) }

// Err returns what ended the walk early: an error wrapping store.ErrCorrupt
// for a key that is not a sequence number; nil at the end of the bucket.
func (e *EventCursor) Err() error { return e.err }

func (e *EventCursor) bad(k []byte) bool {
	e.ok = false
	e.err = fmt.Errorf("wal: bad event key %x: %w", k, store.ErrCorrupt)
	return false
}

// load reads the value v under key at, where the bbolt cursor stands.
func (e *EventCursor) load(at uint64, v []byte) {
	e.val = readValue(e.c, e.uid, at, v, e.runs, e.last)
}

// readValue reads the value v under key at, where c stands, in the events
// bucket of the stream with uid uid and last sequence number last. Only a
// value that is neither an envelope nor a sound run needs its span, the
// distance to the next key that is a sequence number; c is put back after
// looking.
func readValue(c *bolt.Cursor, uid [8]byte, at uint64, v []byte, runs bool, last uint64) Value {
	val := ParseValue(uid, at, v, runs, 0)
	if !runs || (val.isRun && val.err == nil) || (len(v) > 0 && (v[0] == envArray || v[0] == envArrayHeaders)) {
		return val
	}
	span := uint64(1)
	if last >= at {
		span = last - at + 1
	}
	for nk, _ := c.Next(); nk != nil; nk, _ = c.Next() {
		if n, ok := ParseSeqKey(nk); ok { // past keys that are not sequence numbers
			if n > at {
				span = n - at
			}
			break
		}
	}
	c.Seek(SeqKey(at))
	return ParseValue(uid, at, v, runs, span)
}

// Held returns the parts of [first, last] that values hold, ascending: the
// sequence numbers an event may still have. It moves the cursor.
func (e *EventCursor) Held(first, last uint64) [][2]uint64 {
	var out [][2]uint64
	for ok := e.Seek(first); ok && e.Seq() <= last; ok = e.NextValue() {
		lo, hi := e.Seq(), min(e.val.Last(), last)
		if n := len(out); n > 0 && out[n-1][1]+1 == lo {
			out[n-1][1] = hi
		} else {
			out = append(out, [2]uint64{lo, hi})
		}
	}
	return out
}
