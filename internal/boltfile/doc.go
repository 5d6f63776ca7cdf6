// Package boltfile reads bbolt's on-disk format with plain reads, never
// through bbolt or a memory mapping, so that no damage can fault or hang
// the reader. It is the one place in walbatch where that format is written
// down: store checks and restores the meta pages through it (meta.go), and
// recovery walks and salvages the B+trees through it (pages.go).
//
// The layout (little-endian on the platforms Go's bbolt supports): every
// page starts with a 16-byte header (id u64, flags u16, count u16, overflow
// u32); a page with overflow n spans n+1 pages. Pages 0 and 1 are the meta
// pages. After the header a meta page holds magic u32, version u32, page
// size u32, flags u32, the root bucket (root page u64, sequence u64), the
// freelist page u64 (all ones when the freelist is not stored), the
// high-water page id u64, the transaction id u64, and an FNV-64a checksum
// of the 56 bytes before it. Branch, leaf and freelist pages and inline
// buckets are described in pages.go.
//
// A commit writes its data pages, fdatasyncs them, then writes the meta
// page of its transaction (page txid%2, the whole page in one write) and
// fdatasyncs again; Commit returns only after that. bbolt opens at the
// valid meta page with the highest transaction id.
package boltfile
