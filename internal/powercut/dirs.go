package powercut

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// The directory model (Options.StrictDirs). The backing directory always
// holds the names the writer sees. What is durable is recorded apart: for
// each directory, the names of its non-directory entries and the inode each
// named when the directory was last fsynced (or when the FS was created).
// Every inode a durable name refers to has a hard link in the stash, so an
// unlink or a rename over it cannot free it. At a cut each directory gets
// back exactly its durable names: newer names are removed, and durable
// names that are gone or now name another inode are linked again from the
// stash. The data in those inodes is whatever was synced to them.

// dirKey names a directory relative to the backing root: "." for the root
// (Inode.Path gives "" there, filepath.Rel gives ".").
func dirKey(rel string) string {
	if rel == "" {
		return "."
	}
	return filepath.Clean(rel)
}

// snapshotDir records the current entries of directory rel (relative to the
// backing root) as durable. Caller holds f.mu, or owns f exclusively.
func (f *FS) snapshotDir(rel string) error {
	rel = dirKey(rel)
	dir := filepath.Join(f.backing, rel)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	names := map[string]uint64{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		var st syscall.Stat_t
		p := filepath.Join(dir, e.Name())
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		if err := os.Link(p, f.stashPath(st.Ino)); err != nil && !os.IsExist(err) {
			return err
		}
		names[e.Name()] = st.Ino
	}
	f.durable[rel] = names
	return f.pruneStash()
}

func (f *FS) stashPath(ino uint64) string {
	return filepath.Join(f.stash, strconv.FormatUint(ino, 10))
}

// pruneStash drops the links of inodes no durable name refers to.
func (f *FS) pruneStash() error {
	used := map[string]bool{}
	for _, names := range f.durable {
		for _, ino := range names {
			used[strconv.FormatUint(ino, 10)] = true
		}
	}
	ents, err := os.ReadDir(f.stash)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !used[e.Name()] {
			if err := os.Remove(filepath.Join(f.stash, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncDir serves an fsync on directory rel.
func (f *FS) syncDir(rel string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirSyncs++
	if !f.opts.StrictDirs || f.cut {
		return nil
	}
	return f.snapshotDir(rel)
}

// restoreNames gives every directory its durable names back. Caller holds
// f.mu.
func (f *FS) restoreNames(rep *CutReport) error {
	var dirs []string
	err := filepath.WalkDir(f.backing, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(f.backing, p)
		dirs = append(dirs, rel)
		return nil
	})
	if err != nil {
		return err
	}
	for _, rel := range dirs {
		dir := filepath.Join(f.backing, rel)
		want := f.durable[dirKey(rel)] // nil for a directory made after the snapshot: no durable names
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil {
				return err
			}
			if ino, ok := want[e.Name()]; ok && ino == st.Ino {
				have[e.Name()] = true
				continue
			}
			if err := os.Remove(p); err != nil {
				return err
			}
			rep.Removed = append(rep.Removed, filepath.Join(rel, e.Name()))
		}
		names := make([]string, 0, len(want))
		for name := range want {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if have[name] {
				continue
			}
			if err := os.Link(f.stashPath(want[name]), filepath.Join(dir, name)); err != nil {
				return err
			}
			rep.Restored = append(rep.Restored, filepath.Join(rel, name))
		}
	}
	return os.RemoveAll(f.stash)
}
