package store

import (
	"errors"
	"fmt"
	"os"

	"github.com/walbatch/walbatch/internal/boltfile"
)

// precheck refuses, before bbolt opens and maps the file, what bbolt would
// hang on, fault on or misreport: a path that is not a regular file
// (ErrNotRegular, checked on the opened descriptor), a non-empty file with
// no valid meta page (ErrCorrupt if it has bbolt's marks, else ErrNotWAL:
// a short file, a foreign one), and a bbolt file whose newest valid meta
// page points past the end of the file (a truncated file) or at a freelist
// past its last page (ErrCorrupt). bbolt would otherwise fault or panic
// reading the missing pages, and a panic after the mapping leaves the file
// locked for the life of the process. A missing or empty file passes (a
// new file); a file precheck cannot open is left to bbolt to say why.
func precheck(path string) error {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if errors.Is(err, ErrNotRegular) {
		return err
	}
	if err != nil {
		return nil // missing: created by bbolt; unreadable: bbolt says why
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	metas := boltfile.ReadMetas(f)
	m, ok := metas.At()
	switch {
	case !ok && boltfile.LooksLikeBolt(f):
		return fmt.Errorf("%w: %s: no valid meta page (page 0: %s; page 1: %s)", ErrCorrupt, path, why(metas.Page[0]), why(metas.Page[1]))
	case !ok:
		return fmt.Errorf("%w: %s (%d bytes, no bbolt meta page)", ErrNotWAL, path, fi.Size())
	}
	need := int64(m.Pgid) * int64(m.PageSize)
	if need > fi.Size() {
		return fmt.Errorf("%w: %s is truncated: %d bytes, its pages need %d", ErrCorrupt, path, fi.Size(), need)
	}
	if m.Freelist != boltfile.NoFreelist && m.Freelist >= m.Pgid {
		return fmt.Errorf("%w: %s: freelist page %d is past the last page %d", ErrCorrupt, path, m.Freelist, m.Pgid)
	}
	return nil
}

func why(p boltfile.MetaPage) string {
	if !p.Read {
		return "beyond the end of the file"
	}
	return p.Why
}
