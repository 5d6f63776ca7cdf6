package boltfile

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
	"os"
	"strings"
)

// The format's constants.
const (
	Magic          = 0xED0CDAED
	Version        = 2
	PageHeaderSize = 16
	FlagBranch     = 0x01
	FlagLeaf       = 0x02
	FlagMeta       = 0x04
	FlagFreelist   = 0x10
	NoFreelist     = ^uint64(0)
	// MinPageSize and MaxPageSize bound the page sizes looked for when the
	// first meta page cannot say.
	MinPageSize = 4096
	MaxPageSize = 65536

	metaSize        = 64
	metaChecksumOff = 56
)

// Meta is a meta page's content.
type Meta struct {
	PageSize uint32
	Root     uint64 // the root bucket's page
	Freelist uint64 // NoFreelist when the freelist is not stored
	Pgid     uint64 // high-water mark: pages [0, Pgid) are in use or free
	Txid     uint64
}

// MetaPage is one meta page as read from the file.
type MetaPage struct {
	// Meta is what the page says. When the page is not Valid its fields
	// are what its bytes hold, for diagnosis only.
	Meta
	// Read is false when the page could not be read at all (the file is
	// shorter).
	Read bool
	// Valid is true when magic, version and checksum are all right.
	Valid bool
	// Why says what is wrong when the page was read and is not Valid.
	Why string
	// Off is where the page starts in the file.
	Off int64
	// ChecksumOnly is set on a page with bbolt's magic and version whose
	// stored checksum differs from its fields' in at most two bits: the
	// fields are as bbolt wrote them and only the checksum was damaged
	// (damage to the fields changes about half the bits of the FNV-64a
	// sum; that it lands within two bits of the stored one has a chance of
	// about 1 in 10^16). Restore makes such a page valid again.
	ChecksumOnly bool
	// sum is the checksum of the fields as read.
	sum uint64
}

// ReadMeta reads and checks the meta page that starts at off.
func ReadMeta(r io.ReaderAt, off int64) MetaPage {
	var b [metaSize]byte
	if _, err := r.ReadAt(b[:], off+PageHeaderSize); err != nil {
		return MetaPage{}
	}
	le := binary.LittleEndian
	p := MetaPage{Read: true, Off: off, Meta: Meta{PageSize: le.Uint32(b[8:]), Root: le.Uint64(b[16:]),
		Freelist: le.Uint64(b[32:]), Pgid: le.Uint64(b[40:]), Txid: le.Uint64(b[48:])}}
	h := fnv.New64a()
	h.Write(b[:metaChecksumOff])
	switch magic, version := le.Uint32(b[0:]), le.Uint32(b[4:]); {
	case b == [metaSize]byte{}:
		p.Why = "zeroed"
	case magic != Magic:
		p.Why = fmt.Sprintf("no bbolt magic (%#x)", magic)
	case version != Version:
		p.Why = fmt.Sprintf("version %d", version)
	case h.Sum64() != le.Uint64(b[metaChecksumOff:]):
		p.sum = h.Sum64()
		flipped := bits.OnesCount64(p.sum ^ le.Uint64(b[metaChecksumOff:]))
		p.ChecksumOnly = flipped <= 2
		p.Why = "checksum mismatch"
		if p.ChecksumOnly {
			p.Why = fmt.Sprintf("checksum mismatch: %d bit(s) of the checksum damaged, the fields intact", flipped)
		}
	default:
		p.Valid = true
	}
	return p
}

// Metas are a file's two meta pages.
type Metas struct {
	Page [2]MetaPage
	// Current is the page bbolt opens at: the valid one with the highest
	// transaction id (page 0 on a tie), or -1 when neither is valid.
	Current int
}

// ReadMetas reads both meta pages. The second is found at the page size
// the first names or, when the first is invalid, at each page size a file
// can have (the one whose page names that size).
func ReadMetas(r io.ReaderAt) Metas {
	m := Metas{Current: -1}
	m.Page[0] = ReadMeta(r, 0)
	if m.Page[0].Valid {
		m.Page[1] = ReadMeta(r, int64(m.Page[0].PageSize))
	} else {
		for ps := int64(MinPageSize); ps <= MaxPageSize; ps *= 2 {
			p := ReadMeta(r, ps)
			if p.Valid && int64(p.PageSize) == ps {
				m.Page[1] = p
				break
			}
			if ps == MinPageSize {
				m.Page[1] = p // what a damaged page 1 looks like, for Why
			}
		}
	}
	switch v0, v1 := m.Page[0].Valid, m.Page[1].Valid; {
	case v0 && v1 && m.Page[1].Txid > m.Page[0].Txid:
		m.Current = 1
	case v0:
		m.Current = 0
	case v1:
		m.Current = 1
	}
	return m
}

// At returns the meta page bbolt opens at; ok is false when neither is
// valid.
func (m Metas) At() (Meta, bool) {
	if m.Current < 0 {
		return Meta{}, false
	}
	return m.Page[m.Current].Meta, true
}

// Problems describes the invalid meta page of a file that bbolt can open
// (one page valid), in one line saying whether acknowledged data may be
// missing. It is empty when both pages are valid or neither is (a file
// bbolt refuses).
//
// The pages alternate: the invalid one last held either the transaction
// before the current one (an older copy: nothing is lost, and the next
// commit rewrites that page) or the one after it (the newest commit, whose
// caller was told it was durable, opened past). Its transaction id field
// tells which when the page still has bbolt's magic. A page whose fields
// are intact and only its checksum damaged (ChecksumOnly) can be made
// valid again, and the newest commit with it. A page with a bad checksum
// and damaged fields that names the next transaction is the newest commit
// damaged after it was written, or a meta write torn inside a disk sector
// (the fields lie in the page's first 512 bytes, so a disk that writes
// whole sectors leaves a torn meta write as the old, valid page); the two
// cannot be told apart from the file. A zeroed or foreign page may have
// held either.
func (m Metas) Problems() []string {
	if m.Current < 0 {
		return nil
	}
	cur := m.Page[m.Current]
	bad := m.Page[1-m.Current]
	if bad.Valid {
		return nil
	}
	why := bad.Why
	if !bad.Read {
		why = "unreadable"
	}
	var what string
	checksum := bad.Read && strings.HasPrefix(bad.Why, "checksum mismatch")
	switch {
	case checksum && bad.Txid == cur.Txid+1 && bad.ChecksumOnly:
		what = fmt.Sprintf("it holds transaction %d, the newest commit, which walctl repair (or an open for writing) restores", bad.Txid)
	case checksum && bad.Txid == cur.Txid+1:
		what = fmt.Sprintf("it names transaction %d, the newest commit: events acknowledged in that commit are missing "+
			"(unless its write was torn before it returned)", bad.Txid)
	case checksum && bad.Txid+1 == cur.Txid:
		what = fmt.Sprintf("it held the older copy, transaction %d: nothing is missing, the next commit rewrites it", bad.Txid)
	default:
		what = fmt.Sprintf("it may have held transaction %d, the newest commit: events acknowledged in it may be missing", cur.Txid+1)
	}
	return []string{fmt.Sprintf("meta page %d invalid (%s); the file is at transaction %d: %s", 1-m.Current, why, cur.Txid, what)}
}

// Restorable returns the invalid meta page that holds the newest commit
// with only its checksum damaged (see MetaPage.ChecksumOnly), if there is
// one: rewriting its checksum brings the file to that commit.
func (m Metas) Restorable() (MetaPage, bool) {
	if m.Current < 0 {
		return MetaPage{}, false
	}
	cur, bad := m.Page[m.Current], m.Page[1-m.Current]
	ok := bad.Read && !bad.Valid && bad.ChecksumOnly && bad.Txid == cur.Txid+1 && bad.PageSize == cur.PageSize &&
		bad.Off == int64(1-m.Current)*int64(cur.PageSize)
	return bad, ok
}

// Restore makes the newest commit's meta page valid again when only its
// checksum was damaged (see Metas.Restorable), by rewriting the checksum,
// and fsyncs f. It returns what it did, or "" when nothing was to be done.
// The caller holds the file's exclusive lock, so no commit is under way.
func Restore(f *os.File) (string, error) {
	metas := ReadMetas(f)
	p, ok := metas.Restorable()
	if !ok {
		return "", nil
	}
	if _, err := f.WriteAt(binary.LittleEndian.AppendUint64(nil, p.sum), p.Off+PageHeaderSize+metaChecksumOff); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return fmt.Sprintf("restored transaction %d, the newest commit, by rewriting the damaged checksum of meta page %d (bbolt had opened the file at transaction %d)",
		p.Txid, 1-metas.Current, metas.Page[metas.Current].Txid), nil
}

// LooksLikeBolt reports whether the file was a bbolt file before it was
// damaged: either of the first two pages carries bbolt's meta magic at one
// of the page sizes, or, with both meta pages destroyed, pages 2 and 3
// still carry bbolt page headers (their own page id and a known page type).
func LooksLikeBolt(r io.ReaderAt) bool {
	buf := make([]byte, 4)
	for off := int64(0); off <= MaxPageSize; off = max(MinPageSize, 2*off) {
		if _, err := r.ReadAt(buf, off+PageHeaderSize); err == nil && binary.LittleEndian.Uint32(buf) == Magic {
			return true
		}
	}
	hdr := make([]byte, 10)
	for ps := int64(MinPageSize); ps <= MaxPageSize; ps *= 2 {
		ok := true
		for id := int64(2); id < 4 && ok; id++ {
			if _, err := r.ReadAt(hdr, id*ps); err != nil {
				ok = false
				break
			}
			flags := binary.LittleEndian.Uint16(hdr[8:])
			ok = binary.LittleEndian.Uint64(hdr) == uint64(id) &&
				(flags == FlagBranch || flags == FlagLeaf || flags == FlagFreelist)
		}
		if ok {
			return true
		}
	}
	return false
}
