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
	return s.AppendEntryThen(e, nil)
}

// AppendEntryThen is AppendEntry that calls then (when not nil) once the
// event is committed, as AppendManyThen does.
func (s *Stream) AppendEntryThen(e Entry, then func(first uint64)) (Appended, error) {
	r := s.oneRequest(e, time.Now().UnixNano())
	r.then = then
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
	return s.AppendManyThen(entries, nil)
}

// AppendManyThen is AppendMany that calls then(first), when then is not
// nil, once the entries are committed: on the writer goroutine, after the
// commit and before AppendManyThen returns and before the writer applies
// any request that comes after the entries' group (a Seal that takes them
// into a batch, so also before a ReadBatch of that batch). A caller that
// keeps something of the events by sequence number (package processor
// keeps their values for the dispatch) has it in place before any batch
// holding them can be read. then is not called when the entries are not
// committed (an error). It runs while the writer waits: it must be quick
// and must not call the Log.
func (s *Stream) AppendManyThen(entries []Entry, then func(first uint64)) (first uint64, err error) {
	if len(entries) == 0 {
		return 0, nil
	}
	r := s.appendRequest(entries, time.Now().UnixNano())
	r.then = then
	s.l.submitReq(r)
	<-r.done
	first, err = r.first, r.err
	r.release()
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
	s.AppendAsyncThen(entries, nil, cb)
}

// AppendAsyncThen is AppendAsync that also calls then(first), when then is
// not nil, once the entries are committed, on the writer goroutine before
// cb (see AppendManyThen).
func (s *Stream) AppendAsyncThen(entries []Entry, then func(first uint64), cb func(first uint64, err error)) {
	if len(entries) == 0 {
		cb(0, nil)
		return
	}
	r := s.appendRequest(entries, time.Now().UnixNano())
	r.then, r.cb, r.recycle = then, cb, true
	s.l.submitReq(r)
}

// appendRequest returns a pooled append request of entries (at least
// one), enqueued at now: one event gets its body alone, sized for the
// checksum, and no slice of bodies.
func (s *Stream) appendRequest(entries []Entry, now int64) *request {
	if len(entries) == 1 {
		return s.oneRequest(entries[0], now)
	}
	return s.manyRequest(entries, now)
}

// oneRequest returns a pooled append request of one event, enqueued at
// now, its body in the request's spare buffer when that is large enough.
func (s *Stream) oneRequest(e Entry, now int64) *request {
	r := reqPool.Get().(*request)
	r.s, r.bytes, r.oldest, r.cb, r.err = s, uint64(len(e.Payload)), now, nil, nil
	r.one[0] = format.AppendRecordBody(r.body(format.RecordSize(len(e.Key), len(e.Payload), format.HeadersSize(e.Headers))), now, e.Key, e.Payload, e.Headers)
	r.bodies = r.one[:]
	return r
}

// manyRequest returns a pooled append request of entries, enqueued at now:
// their bodies end to end in one slab, each with room for its checksum,
// the slab and the slice of bodies reused from the request's last use
// when large enough.
func (s *Stream) manyRequest(entries []Entry, now int64) *request {
	size, bytes := 0, uint64(0)
	for _, e := range entries {
		size += format.RecordSize(len(e.Key), len(e.Payload), format.HeadersSize(e.Headers))
		bytes += uint64(len(e.Payload))
	}
	r := manyPool.Get().(*request)
	slab := r.slab[:0]
	if cap(slab) < size {
		slab = make([]byte, 0, size)
	}
	bodies := r.bodies[:0]
	if cap(bodies) < len(entries) {
		bodies = make([][]byte, 0, len(entries))
	}
	for _, e := range entries {
		start := len(slab)
		slab = format.AppendRecordBody(slab, now, e.Key, e.Payload, e.Headers)
		// Room for the checksum that format.SealRecord appends in place.
		bodies = append(bodies, slab[start:len(slab):min(len(slab)+format.CRCSize, cap(slab))])
		slab = slab[:len(slab)+format.CRCSize]
	}
	r.s, r.bodies, r.slab, r.bytes, r.oldest, r.many = s, bodies, slab, bytes, now, true
	return r
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
