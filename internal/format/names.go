package format

import (
	"encoding/binary"
	"fmt"
)

// Bucket and key names (see wal/doc.go for the layout).
var (
	BucketStreams = []byte("streams")
	BucketEvents  = []byte("events")
	BucketBatches = []byte("batches")
	BucketDead    = []byte("dead")
	BucketDone    = []byte("done")
	KeyState      = []byte("state")
	KeyUID        = []byte("uid")
	KeyRequeued   = []byte("requeued")
	KeyCodec      = []byte("codec")
)

// SubBuckets are the names of the buckets every stream has.
var SubBuckets = []string{string(BucketEvents), string(BucketBatches), string(BucketDead), string(BucketDone)}

// SeqKey returns the big-endian key of a sequence number: cursor order is
// sequence order.
func SeqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// ParseSeqKey reads a sequence key; false if it is not 8 bytes.
func ParseSeqKey(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

// BatchID formats a batch's stable ID: the stream's random ID and the
// batch sequence number.
func BatchID(uid [8]byte, seq uint64) string {
	return fmt.Sprintf("%x-%d", uid[:], seq)
}

// EventID is the ID an event first appended at seq gets: the stream's
// random ID followed by seq, big-endian.
func EventID(uid [8]byte, seq uint64) [16]byte {
	var id [16]byte
	copy(id[:8], uid[:])
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}
