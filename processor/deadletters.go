package processor

import (
	"fmt"
	"time"

	"github.com/walbatch/walbatch/wal"
)

// DeadLetter is an event in a stream's dead-letter store, decoded as T: an
// event the sink refused for good, whose retries ran out, or that could
// not be read (see Err).
type DeadLetter[T any] struct {
	// ID is the event's ID, as dispatcher.Event.ID had it; "" for a record
	// quarantined as corrupt.
	ID         string
	Seq        uint64 // its sequence number in the stream when it died
	Key        string // its batch key
	EnqueuedAt time.Time
	// Value is the event. It is T's zero value when Err is set.
	Value T
	// Payload is the event's stored bytes (T's encoding); nil for a
	// corrupt record.
	Payload []byte
	// Headers are the event's headers (see WithEventHeaders); nil for none.
	Headers map[string]string
	// Err is set when the event cannot be given as T: its record failed
	// its checksum (wraps wal.ErrRecord), or its payload does not decode
	// into T (wraps ErrUndecodable). Iteration goes on past such events.
	Err error

	Reason   string    // why it died: the sink's error, "undecodable: ...", "corrupt: ..."
	BatchID  string    // the batch it died in
	Attempts int       // dispatch attempts made
	DeadAt   time.Time // when it was moved to dead letters
}

// DeadLetters calls fn for each dead letter of the stream, oldest first,
// on a consistent snapshot of the file, until fn returns an error, which
// DeadLetters returns. An event that cannot be decoded is reported through
// DeadLetter.Err, never as DeadLetters' error. It reads the file, not
// memory: use it for inspection and tools, not on a hot path.
func (p *Processor[T]) DeadLetters(fn func(DeadLetter[T]) error) error {
	dec := getBatchDecoder()
	defer dec.release()
	return p.s.ForEachDead(func(d wal.DeadLetter) error {
		dl := DeadLetter[T]{Reason: d.Reason, BatchID: d.BatchID, Attempts: d.Attempts, DeadAt: d.At}
		if d.Err != nil {
			dl.Err = d.Err
		} else {
			r := d.Record
			dl.ID, dl.Seq, dl.Key, dl.EnqueuedAt, dl.Payload = r.ID.String(), r.Seq, r.Key, r.Time, r.Payload
			dl.Headers = r.Headers
			if err := p.decodeEvent(dec, r.Payload, &dl.Value); err != nil {
				var zero T
				dl.Value = zero
				dl.Err = fmt.Errorf("%w: %v", ErrUndecodable, err)
			}
		}
		return fn(dl)
	})
}

// RequeueDead moves the dead letters with these event IDs back to pending,
// at the end of the stream, in one commit; they keep their IDs, enqueue
// times, keys and payloads and are dispatched again. It returns how many
// it moved: IDs not among the dead letters are ignored, and no IDs moves
// nothing (RequeueAllDead moves all). Pending limits do not apply: these
// events were acknowledged before.
func (p *Processor[T]) RequeueDead(ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	eids, err := parseEventIDs(ids)
	if err != nil {
		return 0, err
	}
	res, err := p.s.Requeue(eids)
	if err != nil {
		return 0, p.mapErr(err)
	}
	return res.Requeued, nil
}

// RequeueAllDead moves every dead letter back to pending, as RequeueDead
// does; a record quarantined as corrupt stays dead (it cannot be sent).
func (p *Processor[T]) RequeueAllDead() (int, error) {
	res, err := p.s.Requeue(nil)
	if err != nil {
		return 0, p.mapErr(err)
	}
	return res.Requeued, nil
}

// PurgeDead deletes the dead letters with these event IDs for good and
// returns how many it deleted; IDs not among them are ignored, and no IDs
// deletes nothing (PurgeAllDead deletes all).
func (p *Processor[T]) PurgeDead(ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	eids, err := parseEventIDs(ids)
	if err != nil {
		return 0, err
	}
	n, err := p.s.PurgeDeadEvents(eids)
	if err != nil {
		return 0, p.mapErr(err)
	}
	return n, nil
}

// PurgeAllDead deletes every dead letter of the stream for good, corrupt
// ones included, and returns how many it deleted.
func (p *Processor[T]) PurgeAllDead() (int, error) {
	n, err := p.s.PurgeDead()
	if err != nil {
		return 0, p.mapErr(err)
	}
	return n, nil
}

func parseEventIDs(ids []string) ([]wal.EventID, error) {
	out := make([]wal.EventID, len(ids))
	for i, s := range ids {
		id, err := wal.ParseEventID(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrBadEventID, s)
		}
		out[i] = id
	}
	return out, nil
}
