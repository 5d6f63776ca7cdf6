package recovery

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/boltfile"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
)

// RepairOptions configures Repair. A nil *RepairOptions means the defaults.
type RepairOptions struct {
	// LockTimeout bounds the wait for the file's lock. Default 1s.
	LockTimeout time.Duration
	// Now names the backup copy. Default time.Now().
	Now time.Time
}

// RepairReport says what Repair did.
type RepairReport struct {
	Path string
	// Backup is the copy of the file as it was, made before any change;
	// empty when nothing needed repair.
	Backup string
	// Rebuilt is true when bbolt's own structure was damaged and the file
	// was rebuilt from every key its readable pages hold.
	Rebuilt bool
	// Actions lists each change, one line each.
	Actions []string
	// Unrepaired lists what was found and left as it is.
	Unrepaired []string
	// Before and After are Verify's reports; Before is nil when the file
	// could not be opened at all.
	Before, After *Report
}

// String returns the report, one line per action.
func (r *RepairReport) String() string {
	var b strings.Builder
	if r.Backup == "" {
		fmt.Fprintf(&b, "%s: nothing to repair", r.Path)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: repaired (%d action(s)); original kept at %s", r.Path, len(r.Actions), r.Backup)
	for _, a := range r.Actions {
		b.WriteString("\n  ")
		b.WriteString(a)
	}
	for _, u := range r.Unrepaired {
		b.WriteString("\n  left as is: ")
		b.WriteString(u)
	}
	if r.After != nil && !r.After.OK() {
		fmt.Fprintf(&b, "\n  still %d problem(s) after repair", len(r.After.Problems)+r.After.Omitted)
	}
	return b.String()
}

// Repair fixes what can be fixed in the closed WAL file at path, and
// reports what it did. It first verifies the file; if nothing is wrong it
// changes nothing. Otherwise it copies the file to "<path>.broken-<time>"
// (fsynced) before any change, restores the newest commit when only its
// meta page's checksum is damaged, rebuilds the file from its readable
// pages if bbolt's own structure is damaged (an invalid meta page
// included: the file is rebuilt at the older commit), then repairs every stream in one
// transaction (see the package documentation). It never deletes a record
// it cannot read: corrupt events become dead letters with reason
// "corrupt: ...".
//
// A symbolic link is followed (see store.Resolve): the file it points to
// is repaired and backed up next to itself, and the link is kept.
//
// It returns store.ErrLocked for a file in use, store.ErrNotWAL and
// store.ErrVersion (the file is not touched), and ErrUnrepairable when no
// WAL can be rebuilt from the file (no valid meta page, or the meta bucket
// is unreadable); the original is then left in place.
func Repair(path string, opts *RepairOptions) (*RepairReport, error) {
	var o RepairOptions
	if opts != nil {
		o = *opts
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = time.Second
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	vo := &VerifyOptions{LockTimeout: o.LockTimeout, MaxProblems: -1}
	rep := &RepairReport{Path: path}
	// A symbolic link is followed: the file it points to is repaired in
	// its own directory, its backup put next to it, and the link kept.
	path, err := store.Resolve(path)
	if err != nil {
		return nil, err
	}
	before, err := Verify(path, vo)
	switch {
	case err != nil && !errors.Is(err, store.ErrCorrupt):
		return nil, err
	case err == nil && before.OK():
		rep.Before, rep.After = before, before
		return rep, nil
	}
	rep.Before = before
	rebuild := err != nil || before.Has(KindFile)
	unlock, err := lockFile(path, o.LockTimeout)
	if err != nil {
		return nil, err
	}
	rep.Backup, err = backup(path, o.Now)
	if err == nil {
		var restored bool
		restored, err = restoreMeta(path, rep)
		if restored {
			// The file is at the newest commit now: whether its pages
			// need a rebuild is for a walk of that commit's tree to say.
			w, werr := boltfile.Walk(path, boltfile.Visitor{})
			rebuild = werr != nil || len(w.Tree)+len(w.Other) > 0
		}
	}
	if err == nil && rebuild {
		err = rebuildFile(path, rep)
	}
	unlock()
	if err != nil {
		return rep, err
	}
	// Format 1 never takes a file to another format (one at 2 stays at
	// 2): Repair changes what it reports and keeps the file's format, as
	// walctl's commands that change a file do (only migrate changes it).
	db, err := store.Open(path, &store.Options{LockTimeout: o.LockTimeout, AutoCompactRatio: -1, Format: 1})
	if err != nil {
		return rep, fmt.Errorf("recovery: repair %s: %w", path, err)
	}
	runs := db.Info().Version >= 2
	err = storetx.Update(db, func(tx *bolt.Tx) error { return repairStreams(tx, rep, o.Now, runs) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("recovery: repair %s: %w", path, err)
	}
	rep.After, err = Verify(path, vo)
	return rep, err
}

// restoreMeta brings the file back to its newest commit when only that
// commit's meta page checksum was damaged (see boltfile.Restore); the
// caller holds the lock.
func restoreMeta(path string, rep *RepairReport) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false, fmt.Errorf("recovery: repair %s: %w", path, err)
	}
	defer f.Close()
	done, err := boltfile.Restore(f)
	if err != nil {
		return false, fmt.Errorf("recovery: repair %s: %w", path, err)
	}
	if done != "" {
		rep.Actions = append(rep.Actions, done)
	}
	return done != "", nil
}

// lockFile takes the exclusive lock bbolt uses (flock on the file), so no
// writer changes the file while it is copied and rebuilt.
func lockFile(path string, timeout time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // never blocks, even on a FIFO swapped in
	if err != nil {
		return nil, fmt.Errorf("recovery: repair %s: %w", path, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w: %s", store.ErrLocked, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// backup copies path to path.broken-<time>, fsyncs the copy and its
// directory, and returns the copy's path.
func backup(path string, now time.Time) (string, error) {
	dst := path + ".broken-" + now.UTC().Format("20060102T150405.000000000Z")
	src, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("recovery: backup %s: %w", path, err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("recovery: backup %s: %w", path, err)
	}
	_, err = io.Copy(out, src)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(dst))
	}
	if err != nil {
		_ = os.Remove(dst)
		return "", fmt.Errorf("recovery: backup %s to %s: %w", path, dst, err)
	}
	return dst, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
