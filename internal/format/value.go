package format

import "fmt"

// A Value is one value of a stream's events bucket, read the one way every
// reader of the bucket reads it. In a format 1 file each value is an
// envelope: one event, under its own sequence number. A format 2 file
// also holds runs (run.go): the events of one group commit under the
// sequence number of the first, event i under key k having sequence k+i.
// A format 2 file may still hold envelopes (those of a migrated format 1
// file): an envelope is read as a value of one event, whichever the
// version.
//
// Values never overlap: a value's events are all below the next key. A
// run whose header or offsets fail their check is damaged as a whole (its
// records cannot be located): it spans from its key to the event before
// the next value (or the stream's last sequence number), every event in it
// reads as corrupt, and the value's bytes count once, for its first event.
type Value struct {
	Key uint64 // sequence number of its first event
	Raw []byte // as stored; aliases the transaction

	run   Run
	isRun bool
	err   error // a run's header failed: its events are unreadable
	n     int   // events it spans
}

// ParseValue reads the value v stored under key in the events bucket of
// the stream with uid uid. runs is whether the file may hold runs (format
// version 2 or later); in a format 1 file every value is an envelope.
// span is how many sequence numbers the value may take at most: up to the
// next key, or to the stream's last sequence number for the last value (0
// for unknown, which reads a damaged run as one event). It allocates
// nothing and never panics.
func ParseValue(uid [8]byte, key uint64, v []byte, runs bool, span uint64) Value {
	val := Value{Key: key, Raw: v, n: 1}
	if !runs || (len(v) > 0 && (v[0] == envArray || v[0] == envArrayHeaders)) {
		return val
	}
	if len(v) == 0 || v[0] != runVersion {
		// Neither form. An envelope damaged in its first byte is one
		// corrupt event; a run is told by the room it takes.
		if span <= 1 {
			return val
		}
	}
	val.isRun = true
	r, err := ParseRun(uid, key, v)
	if err != nil {
		val.err = err
		n := min(max(span, 1), MaxRunEvents)
		if room := ^uint64(0) - key; n-1 > room {
			n = room + 1 // never past the last sequence number: Last must not wrap
		}
		val.n = int(n)
		return val
	}
	val.run, val.n = r, r.Len()
	return val
}

// Len returns the number of events the value spans.
func (v *Value) Len() int { return v.n }

// Last returns the sequence number of its last event.
func (v *Value) Last() uint64 { return v.Key + uint64(v.n) - 1 }

// IsRun reports whether the value is a run (damaged or not), not an envelope.
func (v *Value) IsRun() bool { return v.isRun }

// Err returns the error of a run whose header or offsets fail their check,
// nil otherwise.
func (v *Value) Err() error { return v.err }

// Event decodes and checks event i (0 <= i < Len()), sequence number
// Key+i: DecodeRecord for an envelope, Run.Event for a run. Payload
// aliases the value. The error wraps ErrRecord and store.ErrCorrupt.
func (v *Value) Event(i int) (Record, error) {
	seq := v.Key + uint64(i)
	switch {
	case v.err != nil:
		return Record{Seq: seq}, fmt.Errorf("%w: seq %d: in a damaged run: %w", ErrRecord, seq, v.err)
	case v.isRun:
		return v.run.Event(i)
	}
	return DecodeRecord(seq, v.Raw)
}

// Time returns the enqueue time (unix ns) of event i without checking it,
// as RecordTime reads an envelope's: what the oldest-event counter takes.
// It is 0 for an event it cannot read.
func (v *Value) Time(i int) int64 {
	switch {
	case v.err != nil:
		return 0
	case v.isRun:
		f, ok := v.run.fields(i)
		if !ok {
			return 0
		}
		return v.run.FirstTime() + f.delta
	}
	return RecordTime(v.Raw)
}

// IsRequeued reports whether event i was first appended under another
// sequence number (its ID says so), read without checking it, as
// IsRequeued reads an envelope.
func (v *Value) IsRequeued(i int) bool {
	switch {
	case v.err != nil:
		return false
	case v.isRun:
		f, ok := v.run.fields(i)
		return ok && f.id != nil
	}
	return IsRequeued(v.Key, v.Raw)
}

// AppendedBytes returns what event i added to the byte counters when it
// was appended, also when it is damaged since: AppendedBytes of an
// envelope; a run record's payload length when its layout reads, else its
// stored length; for a damaged run, the value's length for its first
// event and 0 for the others. StoredBytes is what a scan counts for it.
func (v *Value) AppendedBytes(i int) uint64 {
	switch {
	case v.err != nil:
		return v.damagedShare(i)
	case v.isRun:
		f, ok := v.run.fields(i)
		if !ok {
			return uint64(len(v.run.record(i)))
		}
		return uint64(len(f.payload))
	}
	return AppendedBytes(v.Raw)
}

// StoredBytes returns what event i counts toward byte counters in a scan:
// its payload length when it decodes, else its stored length (the
// record's; for a damaged run, the value's for its first event and 0 for
// the others).
func (v *Value) StoredBytes(i int) uint64 {
	if v.err != nil {
		return v.damagedShare(i)
	}
	r, err := v.Event(i)
	if err == nil {
		return uint64(len(r.Payload))
	}
	if v.isRun {
		return uint64(len(v.run.record(i)))
	}
	return uint64(len(v.Raw))
}

func (v *Value) damagedShare(i int) uint64 {
	if i == 0 {
		return uint64(len(v.Raw))
	}
	return 0
}

// Envelope returns event i as a format 1 envelope, the form dead letters
// keep: an envelope value as stored, a run's record encoded as one. A run
// record that fails its check but whose fields can still be read becomes
// the envelope of those fields as read (ID, time, key, payload, headers)
// with the complement of their checksum: it reads as corrupt, as the
// record did, and its ID can still be read from it (without checking it,
// as from any envelope). One that cannot be read at all is returned as its
// stored bytes; for a damaged run, event 0 gets the whole value and the
// others nothing. The result never aliases the value.
func (v *Value) Envelope(i int) []byte {
	if !v.isRun {
		return append([]byte(nil), v.Raw...)
	}
	if v.err != nil {
		if i == 0 {
			return append([]byte(nil), v.Raw...)
		}
		return nil
	}
	r, err := v.run.Event(i)
	if err == nil {
		return EncodeRecord(r)
	}
	f, ok := v.run.fields(i)
	if !ok {
		return append([]byte(nil), v.run.record(i)...)
	}
	id := EventID(v.run.uid, v.Key+uint64(i))
	if f.id != nil {
		id = [16]byte(f.id)
	}
	body := AppendRecordBody(nil, v.run.FirstTime()+f.delta, string(f.key), f.payload, nil)
	if len(f.headers) > 0 {
		body[0] = envArrayHeaders
		body = append(body, f.headers...)
	}
	env := SealRecord(body, id)
	for j := len(env) - 4; j < len(env); j++ {
		env[j] = ^env[j]
	}
	return env
}

// DeadBytes returns what event i counts toward the dead-letter byte
// counters once moved there as Envelope(i): its payload length when it
// decodes, else the length of Envelope(i) (what a scan of the dead letters
// counts for one that does not decode).
func (v *Value) DeadBytes(i int) uint64 {
	if r, err := v.Event(i); err == nil {
		return uint64(len(r.Payload))
	}
	return uint64(len(v.Envelope(i)))
}

// RecordSpan returns where the stored bytes of event i lie in Raw: the
// whole value for an envelope, the record's bytes for a run; ok is false
// for an event of a damaged run, whose records cannot be located.
func (v *Value) RecordSpan(i int) (start, end int, ok bool) {
	switch {
	case v.err != nil:
		return 0, 0, false
	case v.isRun:
		at := len(v.Raw) - len(v.run.recs)
		if i > 0 {
			start = v.run.end(i - 1)
		}
		return at + start, at + v.run.end(i), true
	}
	return 0, len(v.Raw), true
}
