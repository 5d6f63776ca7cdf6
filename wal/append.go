package wal

import (
	"time"

	"github.com/walbatch/walbatch/internal/format"
)

// Entry is one event to append.
type Entry struct {
	Key     string // batch key; "" when unused
	Payload []byte
	// Headers are stored in the record and read back in Record.Headers;
	// nil or empty for none. Any strings are stored as given (checking
	// them is the caller's business); they do not count toward
	// PendingBytes, which counts payloads.
	Headers map[string]string
}

// Appended says where an appended event went.
type Appended struct {
	Seq uint64
	ID  EventID
}

// Append writes one event and returns once it is committed: fsynced under
// SyncAlways. Concurrent callers share commits (group commit), so many
// goroutines appending at once cost far fewer fsyncs than events. The
// payload is copied; the caller may reuse it when Append returns.
//
// It returns ErrFull when the stream's pending limits would be passed,
// store.ErrNoSpace when the disk is full (nothing is written; appends work
// again once space is freed), ErrClosed after Close. When Append returns an
// error the event was not committed.
func (s *Stream) Append(key string, payload []byte) (Appended, error) {
	return s.AppendEntry(Entry{Key: key, Payload: payload})
}

// AppendEntry is Append of one Entry, headers included.
func (s *Stream) AppendEntry(e Entry) (Appended, error) {
	now := time.Now().UnixNano()
	r := reqPool.Get().(*request)
	body := format.AppendRecordBody(r.body(format.RecordSize(len(e.Key), len(e.Payload), format.HeadersSize(e.Headers))), now, e.Key, e.Payload, e.Headers)
	r.s, r.bytes, r.oldest, r.cb, r.err = s, uint64(len(e.Payload)), now, nil, nil
	r.one[0] = body
	r.bodies = r.one[:]
	s.l.submitReq(r)
	<-r.done
	first, err := r.first, r.err
	r.release()
	if err != nil {
		return Appended{}, err
	}
	return Appended{Seq: first, ID: s.EventID(first)}, nil
}

// AppendMany writes entries in one commit, all or none, and returns once it
// is committed. The events get consecutive sequence numbers starting at the
// returned one. ErrFull applies to the entries as a whole.
func (s *Stream) AppendMany(entries []Entry) (first uint64, err error) {
	if len(entries) == 0 {
		return 0, nil
	}
	done := make(chan struct{})
	s.AppendAsync(entries, func(f uint64, e error) {
		first, err = f, e
		close(done)
	})
	<-done
	return first, err
}

// AppendAsync queues entries for the next group commit and returns at once;
// cb is called exactly once, after the commit (first is the sequence number
// of the first entry) or with the error that kept the entries out of the
// log. Entries are committed in the order AppendAsync was called. The
// callbacks of the Log's appends run one at a time, in the order of their
// commits, on a goroutine of the Log (not the caller's, not the writer's);
// cb should be quick, as a slow one delays the callbacks after it, and it
// may call the Log. Close returns after every callback ran. The payloads
// are copied before AppendAsync returns.
func (s *Stream) AppendAsync(entries []Entry, cb func(first uint64, err error)) {
	now := time.Now().UnixNano()
	if len(entries) == 1 {
		// One event (an asynchronous enqueue): its body alone, sized for
		// the checksum, and no slice of bodies.
		e := entries[0]
		r := reqPool.Get().(*request)
		r.s, r.bytes, r.oldest, r.cb, r.err, r.recycle = s, uint64(len(e.Payload)), now, cb, nil, true
		r.one[0] = format.AppendRecordBody(r.body(format.RecordSize(len(e.Key), len(e.Payload), format.HeadersSize(e.Headers))), now, e.Key, e.Payload, e.Headers)
		r.bodies = r.one[:]
		s.l.submitReq(r)
		return
	}
	size, bytes := 0, uint64(0)
	for _, e := range entries {
		size += format.RecordSize(len(e.Key), len(e.Payload), format.HeadersSize(e.Headers))
		bytes += uint64(len(e.Payload))
	}
	slab := make([]byte, 0, size)
	bodies := make([][]byte, len(entries))
	for i, e := range entries {
		start := len(slab)
		slab = format.AppendRecordBody(slab, now, e.Key, e.Payload, e.Headers)
		// Room for the checksum that format.SealRecord appends in place.
		bodies[i] = slab[start:len(slab):min(len(slab)+format.CRCSize, cap(slab))]
		slab = slab[:len(slab)+format.CRCSize]
	}
	r := &request{s: s, bodies: bodies, bytes: bytes, oldest: now, cb: cb}
	if len(entries) == 0 {
		cb(0, nil)
		return
	}
	s.l.submitReq(r)
}

func (l *Log) submitReq(r *request) {
	if l.c == nil {
		l.answerClosed(r)
		return
	}
	l.c.submit(r)
}

func (l *Log) answerClosed(r *request) {
	err := ErrClosed
	if l.db.ReadOnly() {
		err = errReadOnly(l)
	}
	if r.cb != nil {
		r.cb(0, err)
		return
	}
	r.err = err
	r.done <- struct{}{}
}
