package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
)

// bbolt's meta page, as laid out on disk (little-endian on the platforms
// Go supports here): a 16-byte page header, then magic, version, page size,
// flags, root bucket (root page, sequence), freelist page, high-water page
// id, transaction id, and an FNV-64a checksum of the fields before it.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderSize  = 16
	metaSize        = 64
	metaChecksumOff = 56
)

type boltMeta struct {
	pageSize uint32
	freelist uint64
	pgid     uint64
	txid     uint64
}

// readMetaAt decodes and checks the meta page at off; ok is false when it
// is not a valid meta page.
func readMetaAt(f *os.File, off int64) (boltMeta, bool) {
	buf := make([]byte, metaSize)
	if _, err := f.ReadAt(buf, off+pageHeaderSize); err != nil {
		return boltMeta{}, false
	}
	le := binary.LittleEndian
	if le.Uint32(buf[0:]) != boltMagic || le.Uint32(buf[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(buf[:metaChecksumOff])
	if h.Sum64() != le.Uint64(buf[metaChecksumOff:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: le.Uint32(buf[8:]), freelist: le.Uint64(buf[32:]), pgid: le.Uint64(buf[40:]), txid: le.Uint64(buf[48:])}, true
}

// precheck refuses, before bbolt maps the file, a bbolt file whose newest
// valid meta page points past the end of the file (a truncated file).
// bbolt would otherwise fault or panic reading the missing pages, and a
// panic after the mapping leaves the file locked for the life of the
// process. Files precheck cannot read are left to bbolt's own checks.
func precheck(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // missing: created by bbolt; unreadable: bbolt says why
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	m0, ok0 := readMetaAt(f, 0)
	var m1 boltMeta
	ok1 := false
	if ok0 {
		m1, ok1 = readMetaAt(f, int64(m0.pageSize))
	} else {
		// The first meta page is unreadable: look for the second at each
		// page size a file can have.
		for ps := int64(4096); ps <= 65536 && !ok1; ps *= 2 {
			m1, ok1 = readMetaAt(f, ps)
			ok1 = ok1 && int64(m1.pageSize) == ps
		}
	}
	var m boltMeta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		return nil
	}
	need := int64(m.pgid) * int64(m.pageSize)
	if need > fi.Size() {
		return fmt.Errorf("%w: %s is truncated: %d bytes, its pages need %d", ErrCorrupt, path, fi.Size(), need)
	}
	if m.freelist != ^uint64(0) && m.freelist >= m.pgid {
		return fmt.Errorf("%w: %s: freelist page %d is past the last page %d", ErrCorrupt, path, m.freelist, m.pgid)
	}
	return nil
}
