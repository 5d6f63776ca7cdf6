package wal

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/walbatch/walbatch/internal/format"
)

// EventID identifies an event for its whole life: the stream's random ID
// followed by the sequence number the event got at its first append. It is
// kept in the record, so it survives retries, restarts and requeues.
type EventID [16]byte

// String returns the ID as 32 hex digits.
func (id EventID) String() string { return hex.EncodeToString(id[:]) }

// ParseEventID parses the form String returns.
func ParseEventID(s string) (EventID, error) {
	var id EventID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("wal: bad event ID %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// Record is one event as stored in the log.
type Record struct {
	// Seq is the event's key in its stream: big-endian, only growing.
	Seq uint64
	// ID is the event's stable identity.
	ID EventID
	// Time is when the event was appended (its enqueue time).
	Time time.Time
	// Key is the batch key ("" when unused).
	Key string
	// Payload is the caller's bytes.
	Payload []byte
	// Headers are the event's headers, nil when it has none.
	Headers map[string]string
}

// decodeRecord is format.DecodeRecord, as a Record.
func decodeRecord(seq uint64, v []byte) (Record, error) {
	r, err := format.DecodeRecord(seq, v)
	return fromFormat(r), err
}

// fromFormat is r as a Record.
func fromFormat(r format.Record) Record {
	return Record{Seq: r.Seq, ID: EventID(r.ID), Time: r.Time, Key: r.Key, Payload: r.Payload, Headers: r.Headers}
}

// eventID returns the ID an event first appended at seq gets.
func eventID(uid [8]byte, seq uint64) EventID { return EventID(format.EventID(uid, seq)) }
