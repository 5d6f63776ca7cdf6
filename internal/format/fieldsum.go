package format

import (
	"encoding/binary"
	"hash/crc32"
)

// Batch, dead-letter and completion records carry a CRC32C (Castagnoli) of
// their fields in a "crc" field, as event envelopes carry one of their
// bytes: bbolt checksums only its meta pages, so without it a flipped bit
// in a reason, a range or an attempt count would go unnoticed. The sum is
// taken over the fields' values, not over their msgpack encoding, so it
// does not depend on how an encoder writes them: a tag naming the record
// type, then each field in the order the record's sum method lists them,
// integers as 8 big-endian bytes and strings as their length (8 bytes)
// followed by their bytes.
//
// Records written before the field existed have none (0): they decode and
// verify as before. A record whose sum is wrong is damaged: recovery.Verify
// reports it and recovery.Repair deals with it (see the record types).
// Damage to the "crc" key itself makes a record read as one written before
// checksums: that much goes undetected.
type fieldSum uint32

func newFieldSum(tag string) fieldSum { return fieldSum(0).str(tag) }

func (f fieldSum) u64(v uint64) fieldSum {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return fieldSum(crc32.Update(uint32(f), castagnoli, b[:]))
}

func (f fieldSum) i64(v int64) fieldSum { return f.u64(uint64(v)) }

func (f fieldSum) str(s string) fieldSum {
	f = f.u64(uint64(len(s)))
	return fieldSum(crc32.Update(uint32(f), castagnoli, []byte(s)))
}

// sumOK reports whether stored, a record's "crc" field, matches the sum of
// its fields; a record without one (0) passes.
func sumOK(stored uint32, sum fieldSum) bool { return stored == 0 || stored == uint32(sum) }

func (b *Batch) sum() fieldSum {
	return newFieldSum("batch").u64(b.Seq).u64(b.First).u64(b.Last).i64(int64(b.Count)).i64(b.Bytes).str(b.Key).
		i64(int64(b.Attempts)).i64(b.NextAttempt).str(b.LastError).i64(b.SealedAt).i64(int64(b.Delivered)).
		i64(b.DeliveredBytes).holes(b.Holes)
}

// holes adds a batch's holes, when it has any: a batch without holes sums
// as before they existed.
func (f fieldSum) holes(h []uint64) fieldSum {
	if len(h) == 0 {
		return f
	}
	f = f.str("holes").u64(uint64(len(h)))
	for _, v := range h {
		f = f.u64(v)
	}
	return f
}

func (d *DeadRecord) sum() fieldSum {
	return newFieldSum("dead").str(d.Reason).str(d.BatchID).i64(int64(d.Attempts)).i64(d.At)
}

func (c *Completion) sum() fieldSum {
	return newFieldSum("done").u64(c.Seq).i64(int64(c.Count)).i64(c.Bytes).i64(int64(c.Attempts)).i64(c.CompletedAt)
}
