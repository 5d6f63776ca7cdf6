package store

import (
	"fmt"
	"os"
	"syscall"

	"github.com/walbatch/walbatch/internal/boltfile"
)

// restoreMeta, for a file opened for writing, makes the newest commit's
// meta page valid again when only its checksum was damaged (its fields
// intact: see boltfile.Restore), before bbolt opens the file at the older
// page and its first commit overwrites the newer one. It works under the
// file's exclusive lock, taken without waiting: a file someone holds is
// left as it is (Open then waits for the lock as always, and MetaProblems
// reports the page if it is still invalid). It returns what it did, or ""
// when nothing was to be done.
func restoreMeta(path, real string) (string, error) {
	f, err := openRegular(real, os.O_RDWR, 0)
	if err != nil {
		return "", nil // bbolt opens it and says why
	}
	defer f.Close() // releases the lock too
	if _, ok := boltfile.ReadMetas(f).Restorable(); !ok {
		return "", nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return "", nil
	}
	done, err := boltfile.Restore(f)
	if err != nil {
		return "", classifyWriteError(path, fmt.Errorf("store: open %s: restore meta page: %w", path, err))
	}
	return done, nil
}
