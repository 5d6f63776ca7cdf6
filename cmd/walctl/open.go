package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// lockTimeout is how long a command waits for a file held by another
// process before it gives up with exit code 8.
const lockTimeout = time.Second

// checkFile refuses, before anything opens path, a file that does not
// exist (a symbolic link to nothing included), what is not a regular file
// (a directory, a FIFO, a device: refused without opening it) and an empty
// file, so that no command ever blocks on, creates or initialises a WAL by
// accident. A symbolic link is followed by every command: the file it
// points to is read or changed, and the link is kept (store.Resolve).
func checkFile(path string) error {
	fi, err := store.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if target, lerr := os.Readlink(path); lerr == nil {
			return explained{fmt.Sprintf("%s: no such file (a symbolic link to %s, which does not exist)", path, target), err}
		}
		return explained{fmt.Sprintf("%s: no such file", path), err}
	case errors.Is(err, store.ErrNotRegular):
		return explained{causeAfter(err, store.ErrNotRegular.Error()) + ", not a WAL file", err}
	case err != nil:
		return err
	case fi.Size() == 0:
		return explained{fmt.Sprintf("%s: empty file, not a WAL", path), store.ErrNotWAL}
	}
	return nil
}

// openReadOnly opens path for reading: a shared lock, no writes, no
// compaction, no stream creation. The file is left byte-for-byte unchanged.
func openReadOnly(path string) (*wal.Log, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	l, err := wal.Open(path, &wal.Options{ReadOnly: true, LockTimeout: lockTimeout})
	if err != nil {
		return nil, explainOpen(path, err)
	}
	return l, nil
}

// openReadWrite opens path for a command whose purpose is to change it.
// Automatic compaction is off and the file keeps its format (only migrate
// changes it): a command changes only what it says. A file with an
// invalid meta page is refused as damaged (exit 7): the command's commit
// would overwrite that page, and repair must see it first.
func openReadWrite(path string) (*wal.Log, error) {
	format, err := fileFormat(path)
	if err != nil {
		return nil, err
	}
	l, err := wal.Open(path, &wal.Options{
		LockTimeout: lockTimeout,
		Store:       store.Options{AutoCompactRatio: -1, Format: format},
	})
	if err != nil {
		return nil, explainOpen(path, err)
	}
	if p := l.Store().MetaProblems(); len(p) > 0 {
		// Its first commit would rewrite the damaged page: repair first,
		// which keeps the original.
		_ = l.Close()
		return nil, explainOpen(path, fmt.Errorf("%w: %s", store.ErrCorrupt, p[0]))
	}
	return l, nil
}

// fileFormat returns the format version of the WAL at path, read under a
// shared lock.
func fileFormat(path string) (uint64, error) {
	if err := checkFile(path); err != nil {
		return 0, err
	}
	db, err := store.Open(path, &store.Options{ReadOnly: true, LockTimeout: lockTimeout})
	if err != nil {
		return 0, explainOpen(path, err)
	}
	v := db.Info().Version
	return v, db.Close()
}

// explainOpen rewrites the store's sentinels into a message that says what
// to do; the sentinel stays in the chain for the exit code.
func explainOpen(path string, err error) error {
	var msg string
	switch {
	case errors.Is(err, store.ErrLocked):
		msg = fmt.Sprintf("%s: the WAL is in use by a running process (lock not acquired within %s); "+
			"read it through a snapshot instead: walctl snapshot URL -o copy.wal, then run this command on copy.wal", path, lockTimeout)
	case errors.Is(err, store.ErrVersion):
		msg = fmt.Sprintf("%s: written by a newer walbatch format than this walctl reads (%s); use a newer walctl", path, causeAfter(err, store.ErrVersion.Error()))
	case errors.Is(err, store.ErrNotRegular):
		msg = causeAfter(err, store.ErrNotRegular.Error()) + ", not a WAL file"
	case errors.Is(err, store.ErrNotWAL):
		msg = fmt.Sprintf("%s: not a walbatch WAL file", path)
	case errors.Is(err, store.ErrCorrupt):
		msg = fmt.Sprintf("%s: the WAL is damaged (%s); run walctl verify, then walctl repair", path, oneLine(err))
	default:
		return err
	}
	return explained{msg, err}
}

// causeAfter returns the text of err after the sentinel's own message, for
// details such as version numbers.
func causeAfter(err error, sentinel string) string {
	s, p := err.Error(), sentinel+": "
	if i := strings.Index(s, p); i >= 0 {
		return s[i+len(p):]
	}
	return s
}

// streamsOf returns the streams a command works on: the one named, or all.
func streamsOf(l *wal.Log, name string) ([]*wal.Stream, error) {
	names := l.Streams()
	if name != "" {
		found := false
		for _, n := range names {
			found = found || n == name
		}
		if !found {
			return nil, fmt.Errorf("%s: no stream %q (streams: %q)", l.Path(), name, names)
		}
		names = []string{name}
	}
	out := make([]*wal.Stream, 0, len(names))
	for _, n := range names {
		s, err := l.Stream(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
