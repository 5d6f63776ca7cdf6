package wal

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// A group is what the writer applies in one transaction: the requests it
// took from the queue, in queue order, appends and transitions mixed. Each
// request sees the effect of those before it (a Seal after an append seals
// the appended event), and the streams' counters are staged per group:
// written once per stream at the end of the transaction and installed in
// memory only after the commit.
//
// bbolt has no savepoints, so a transition that fails must not have
// written: one that finds nothing to do or refuses (no such batch, nothing
// to seal) returns its error wrapped by refuse before its first write, and
// the group goes on without it. Any other error from a transition means it
// may have written part of its change: the transaction is rolled back and
// the group written again without that request, which alone gets the
// error. An error that is not a transition's (an append's write, the
// commit, its fsync) is every request's in the group.

// groupStream is a stream's state while a group is being written.
type groupStream struct {
	s      *Stream
	base   format.State // as last committed
	st     format.State // as the group's requests so far leave it
	ev, by int64        // pending limits

	// In a file that holds runs: the run being built of the stream's
	// appends, written (flushRun) when full, before a transition and at
	// the end of the group, so that one value holds the events of many
	// appends.
	run    format.RunBuilder
	events *bolt.Bucket // the stream's events bucket in this transaction; nil: not looked up
	vals   *valueArena  // the group's: where flushRun builds the run's value
}

// group is one transaction's requests and the streams they touch.
type group struct {
	reqs    []*request
	touched []*groupStream
	events  int  // events appended
	applied int  // transitions applied
	changed bool // a request wrote something
	vals    *valueArena
	// spare holds the committer's groupStreams of earlier groups, reused
	// for the space of their run builders (a run of a thousand events
	// would otherwise grow a new slice of their parts in every group).
	spare *[]*groupStream
}

// valueArena holds the buffers the writer builds runs in. bbolt keeps the
// slice of a value put until its transaction ends (it copies it into the
// file's pages at commit), so a buffer goes to one value per transaction;
// once the transaction is over, reset lets the next one reuse them: no
// allocation, nor zeroing, of a run's value once warm. It keeps at most
// maxValueChunks chunks of valueChunk bytes; more values in a transaction,
// or larger ones, get buffers of their own.
type valueArena struct {
	chunks [][]byte // chunks[:next] are full for this transaction
	next   int
}

const (
	valueChunk     = 256 << 10
	maxValueChunks = 4
)

// get returns a buffer of length 0 and capacity n that nothing else in the
// transaction uses.
func (a *valueArena) get(n int) []byte {
	for a.next < len(a.chunks) {
		c := a.chunks[a.next]
		if l := len(c); cap(c)-l >= n {
			a.chunks[a.next] = c[:l+n]
			return c[l:l:(l + n)]
		}
		a.next++
	}
	if n > valueChunk/2 || len(a.chunks) >= maxValueChunks {
		return make([]byte, 0, n)
	}
	a.chunks = append(a.chunks, make([]byte, n, valueChunk))
	return a.chunks[a.next][:0:n]
}

// reset makes every chunk free again: call it only when no transaction
// that got a buffer from get is open.
func (a *valueArena) reset() {
	for i := range a.chunks {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.next = 0
}

// errNoChange rolls back a group in which no request wrote anything
// (every transition refused, every append refused for the limits): there
// is nothing to commit, and no fsync to pay.
var errNoChange = errors.New("wal: group changed nothing")

// refusal marks the error of a transition that wrote nothing.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// refuse marks err as returned by a transition before its first write in
// the transaction, so the group goes on without it.
func refuse(err error) error { return refusal{err} }

// afterWrite returns err, the error of a step that follows a write of the
// same transition, as one that is not a refusal: the group must be rolled
// back for it.
func afterWrite(err error) error {
	if ref, ok := err.(refusal); ok {
		return ref.err
	}
	return err
}

// failed carries a transition's error out of a transaction it may have
// written part of its change in.
type failed struct {
	r   *request
	err error
}

func (f *failed) Error() string { return f.err.Error() }

func (g *group) stream(s *Stream) *groupStream {
	for _, t := range g.touched {
		if t.s == s {
			return t
		}
	}
	var t *groupStream
	if n := len(*g.spare); n > 0 {
		t = (*g.spare)[n-1]
		(*g.spare)[n-1] = nil
		*g.spare = (*g.spare)[:n-1]
	} else {
		t = new(groupStream)
	}
	run := t.run
	run.Reset(s.uid, 0) // empty: a rolled back attempt may have left events in it
	s.mu.RLock()
	*t = groupStream{s: s, base: s.state, st: s.state, ev: s.maxEv, by: s.maxBy, vals: g.vals, run: run}
	s.mu.RUnlock()
	g.touched = append(g.touched, t)
	return t
}

// recycle gives the group's streams back to spare, for the next attempt or
// the next group: call it once nothing reads them any more.
func (g *group) recycle() {
	*g.spare = append(*g.spare, g.touched...)
	clear(g.touched)
	g.touched = g.touched[:0]
}

// write applies the group in tx. Streams' staged state starts from what is
// committed at each attempt, so a group written again after a failed
// transition starts afresh.
func (g *group) write(tx *bolt.Tx) error {
	g.recycle()
	g.events, g.applied, g.changed = 0, 0, false
	g.vals.reset()  // an earlier attempt's transaction was rolled back
	var keys []byte // bbolt keeps key slices until commit: one per envelope of a format 1 file
	if len(g.reqs) > 0 && !g.reqs[0].runs() {
		total := 0
		for _, r := range g.reqs {
			total += len(r.bodies)
		}
		keys = make([]byte, 8*total)
	}
	var events *bolt.Bucket
	var cur *Stream
	for _, r := range g.reqs {
		if r.excluded {
			continue
		}
		if r.apply != nil {
			// The transition sees the appends before it, and may
			// replace buckets.
			if err := g.flushRuns(tx); err != nil {
				return err
			}
			cur = nil
			if err := g.transition(tx, r); err != nil {
				return err
			}
			continue
		}
		r.err = nil
		t := g.stream(r.s)
		n := uint64(len(r.bodies))
		outEv := t.st.PendingCount + t.st.InflightCount + n
		outBy := t.st.PendingBytes + t.st.InflightBytes + r.bytes
		if (t.ev > 0 && outEv > uint64(t.ev)) || (t.by > 0 && outBy > uint64(t.by)) {
			r.err = ErrFull
			continue
		}
		r.first = t.st.NextSeq
		if r.runs() {
			if err := t.appendToRun(tx, r); err != nil {
				return err
			}
		} else if err := g.putEnvelopes(tx, r, &cur, &events, &keys); err != nil {
			return err
		}
		appended(&t.st, n, r.bytes, r.oldest)
		g.events += len(r.bodies)
		g.changed = true
	}
	if err := g.flushRuns(tx); err != nil {
		return err
	}
	if !g.changed {
		return errNoChange
	}
	for _, t := range g.touched {
		if t.st != t.base {
			if err := t.s.putState(tx, &t.st); err != nil {
				return err
			}
		}
	}
	return nil
}

// putEnvelopes writes append r's events as format 1 envelopes, one key
// each: a format 1 file's values. cur and events are the stream whose
// events bucket was last looked up, and keys the group's key space.
func (g *group) putEnvelopes(tx *bolt.Tx, r *request, cur **Stream, events **bolt.Bucket, keys *[]byte) error {
	if r.s != *cur {
		var err error
		if *events, err = r.s.sub(tx, format.BucketEvents); err != nil {
			return err
		}
		*cur = r.s
	}
	for i, body := range r.bodies {
		k := (*keys)[:8:8]
		*keys = (*keys)[8:]
		putU64(k, r.first+uint64(i))
		// body keeps its length: written again, it is sealed again.
		if err := (*events).Put(k, format.SealRecord(body, format.EventID(r.s.uid, r.first+uint64(i)))); err != nil {
			return err
		}
	}
	return nil
}

// appendToRun adds append r's events to the stream's run, writing the run
// whenever it is full.
func (t *groupStream) appendToRun(tx *bolt.Tx, r *request) error {
	for i, body := range r.bodies {
		seq := r.first + uint64(i)
		switch {
		case t.run.Len() == 0:
			t.run.Reset(t.s.uid, seq)
		case !t.run.Fits(body):
			if err := t.flushRun(tx); err != nil {
				return err
			}
			t.run.Reset(t.s.uid, seq)
		}
		t.run.Add(body)
	}
	return nil
}

// flushRun writes the run being built, if any, under its first sequence
// number.
func (t *groupStream) flushRun(tx *bolt.Tx) error {
	if t.run.Len() == 0 {
		return nil
	}
	if t.events == nil {
		var err error
		if t.events, err = t.s.sub(tx, format.BucketEvents); err != nil {
			return err
		}
	}
	v := t.run.AppendTo(t.vals.get(t.run.Size()))
	if err := t.events.Put(format.SeqKey(t.run.First()), v); err != nil {
		return err
	}
	t.run.Reset(t.s.uid, t.run.First()+uint64(t.run.Len()))
	return nil
}

// flushRuns writes every stream's run in progress, before a transition
// (which must see them, and may replace buckets) and at the end of the
// group.
func (g *group) flushRuns(tx *bolt.Tx) error {
	for _, t := range g.touched {
		if err := t.flushRun(tx); err != nil {
			return err
		}
		t.events = nil
	}
	return nil
}

// runs reports whether r's file holds runs: every request of a group is of
// one Log.
func (r *request) runs() bool { return r.s != nil && r.s.l.runs }

// transition applies r in tx on a copy of its stream's staged state, which
// replaces the staged state only when r succeeds.
func (g *group) transition(tx *bolt.Tx, r *request) error {
	r.err = nil
	var st *format.State
	var t *groupStream
	if r.s != nil {
		t = g.stream(r.s)
		cp := t.st
		st = &cp
	}
	if err := r.apply(tx, st); err != nil {
		if ref, ok := errors.AsType[refusal](err); ok {
			r.err = ref.err
			return nil
		}
		return &failed{r: r, err: err}
	}
	if t != nil {
		t.st = *st
	}
	g.applied++
	g.changed = true
	return nil
}

// commitGroup writes reqs in one transaction (again without a transition
// that failed inside it), installs the streams' new counters, runs the
// transitions' after functions and answers every request.
func (c *committer) commitGroup(reqs []*request) {
	l := c.l
	g := &group{reqs: reqs, vals: &c.vals, spare: &c.streams}
	defer g.recycle()
	for _, r := range reqs {
		r.excluded, r.err = false, nil
	}
	var err error
	start := time.Now()
	for {
		if l.isClosed() {
			err = ErrClosed
			break
		}
		err = storetx.Update(l.db, g.write)
		if f, ok := errors.AsType[*failed](err); ok {
			f.r.excluded, f.r.err = true, f.err
			continue
		}
		break
	}
	committed := err == nil
	if errors.Is(err, errNoChange) {
		err = nil
	}
	if committed {
		l.commits.add(g.events, g.applied, time.Since(start))
		for _, t := range g.touched {
			t.s.setState(t.st)
		}
		for _, r := range reqs {
			switch {
			case r.err != nil:
			case r.apply != nil && r.after != nil:
				r.after()
			case r.apply == nil && r.then != nil:
				r.then(r.first)
			}
		}
	}
	c.mu.Lock()
	c.queuedAtCommit = len(c.queue)
	c.mu.Unlock()
	for _, r := range reqs {
		switch {
		case r.err != nil:
			if errors.Is(r.err, ErrFull) && r.apply == nil {
				r.s.counts.refused.Add(1)
			}
			c.answer(r, 0, r.err, true)
		case err != nil:
			c.answer(r, 0, err, true)
		default:
			c.answer(r, r.first, nil, true)
		}
	}
	c.calls.push(c.due)
	clear(c.due)
	c.due = c.due[:0]
	if committed {
		for _, t := range g.touched {
			if t.st.NextSeq != t.base.NextSeq {
				select {
				case t.s.notify <- struct{}{}:
				default:
				}
			}
		}
	}
}
