// Package formattest changes the events of a stream in a bbolt file the
// way damage or an older version would have left them, whichever form
// (format 1 envelopes, format 2 runs) the values have: for the tests of
// the packages above the file format.
package formattest

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// Stream is a stream's raw buckets in a write transaction, with what
// reading its events takes.
type Stream struct {
	Events *bolt.Bucket
	UID    [8]byte
	Runs   bool   // the file may hold runs: its format version is 2 or later
	Last   uint64 // the stream's last sequence number
}

// Open returns the stream name of the file in tx, a write transaction.
func Open(tx *bolt.Tx, name string) (Stream, error) {
	rs, ok := format.RawStreamOf(tx, name)
	if !ok || rs.Events == nil {
		return Stream{}, fmt.Errorf("formattest: no stream %q", name)
	}
	var s Stream
	s.Events = rs.Events
	copy(s.UID[:], rs.Bucket.Get(format.KeyUID))
	st, err := format.DecodeState(rs.Version, rs.State)
	if err != nil {
		return Stream{}, err
	}
	s.Last = st.NextSeq - 1
	s.Runs = rs.Version >= 2
	return s, nil
}

// SetFormat sets the format version of tx's file to version and rewrites
// every stream's state record to its layout, with the step store's
// migration runs (storetx.Migration), in either direction: a test takes a
// migrated file back to format 1 with it, to migrate it again. It changes
// nothing else: the file must hold nothing version cannot read (no run
// of events, for format 1).
func SetFormat(tx *bolt.Tx, version uint64) error {
	from, err := storetx.Version(tx)
	if err != nil {
		return err
	}
	if err := storetx.Migration()(tx, from, version); err != nil {
		return err
	}
	return tx.Bucket([]byte("walbatch")).Put([]byte("version"), binary.BigEndian.AppendUint64(nil, version))
}

// FlipChecksum flips a bit of the checksum of event seq's record, so that
// it alone fails its check (its neighbours in a run stay sound).
func (s Stream) FlipChecksum(seq uint64) error {
	return s.change(seq, func(v []byte, start, end int) { v[end-1] ^= 0x01 })
}

// FlipPayload flips a bit just before the checksum of event seq's record
// (in its payload or headers), so that it fails its check.
func (s Stream) FlipPayload(seq uint64) error {
	return s.change(seq, func(v []byte, start, end int) { v[end-format.CRCSize-1] ^= 0x20 })
}

func (s Stream) change(seq uint64, fn func(v []byte, start, end int)) error {
	cur := format.NewEventCursor(s.Events, s.UID, s.Runs, s.Last)
	if !cur.Seek(seq) || cur.Seq() != seq {
		return fmt.Errorf("formattest: no event %d", seq)
	}
	val := cur.Value()
	start, end, ok := val.RecordSpan(cur.Index())
	if !ok {
		return fmt.Errorf("formattest: event %d is in a damaged run", seq)
	}
	v := append([]byte(nil), val.Raw...)
	fn(v, start, end)
	return s.Events.Put(format.SeqKey(val.Key), v)
}

// Rewrite replaces every sound event with what fn makes of it (Seq and ID
// are kept), each value keeping its form: an envelope is encoded again as
// an envelope, a run as a run of the same events. A value holding an event
// that does not decode is left as it is.
func (s Stream) Rewrite(fn func(r *format.Record)) error {
	type kv struct {
		k uint64
		v []byte
	}
	var out []kv
	cur := format.NewEventCursor(s.Events, s.UID, s.Runs, s.Last)
	for ok := cur.Seek(0); ok; ok = cur.NextValue() {
		val := cur.Value()
		recs := make([]format.Record, val.Len())
		sound := true
		for i := range recs {
			r, err := val.Event(i)
			if err != nil {
				sound = false
				break
			}
			r.Payload = append([]byte(nil), r.Payload...)
			seq, id := r.Seq, r.ID
			fn(&r)
			r.Seq, r.ID = seq, id
			recs[i] = r
		}
		if !sound {
			continue
		}
		if !val.IsRun() {
			out = append(out, kv{val.Key, format.EncodeRecord(recs[0])})
			continue
		}
		evs := make([]format.RunEvent, len(recs))
		for i, r := range recs {
			evs[i] = format.RunEvent{ID: r.ID, Time: r.Time.UnixNano(), Key: r.Key, Payload: r.Payload, Headers: r.Headers}
		}
		out = append(out, kv{val.Key, format.AppendRun(nil, s.UID, val.Key, evs)})
	}
	if err := cur.Err(); err != nil {
		return err
	}
	for _, e := range out {
		if err := s.Events.Put(format.SeqKey(e.k), e.v); err != nil {
			return err
		}
	}
	return nil
}
