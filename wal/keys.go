package wal

import (
	"encoding/binary"
	"fmt"
)

// Bucket and key names. See doc.go for the layout.
var (
	bucketStreams = []byte("streams")
	bucketEvents  = []byte("events")
	bucketBatches = []byte("batches")
	bucketDead    = []byte("dead")
	bucketDone    = []byte("done")
	keyState      = []byte("state")
	keyUID        = []byte("uid")
	keyRequeued   = []byte("requeued")
	keyCodec      = []byte("codec")
)

func u64key(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

func keyU64(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

// BatchID formats a batch's stable ID: the stream's random ID and the batch
// sequence number.
func formatBatchID(uid [8]byte, seq uint64) string {
	return fmt.Sprintf("%x-%d", uid[:], seq)
}

func eventID(uid [8]byte, seq uint64) EventID {
	var id EventID
	copy(id[:8], uid[:])
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}

// recordTime reads a record's enqueue time without checking it.
func recordTime(v []byte) int64 {
	if len(v) < idOffset+16+9 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v[idOffset+17:]))
}

// recordBytes is what a stored record counts toward byte counters: its
// payload length, or for a record that does not decode, its stored length.
func recordBytes(v []byte) uint64 {
	r, err := DecodeRecord(0, v)
	if err != nil {
		return uint64(len(v))
	}
	return uint64(len(r.Payload))
}
