package powercut

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options configures a filesystem.
type Options struct {
	// StrictDirs makes creates, renames and unlinks of files durable only
	// once their directory is fsynced: at a cut, every directory gets back
	// the file names it had at its last fsync (or at mount), each naming
	// the inode it named then. Without it they are durable at once.
	// Directories themselves (mkdir, rmdir) are always durable at once.
	StrictDirs bool
	// SyncLatency is how long a file fsync takes before it makes anything
	// durable, as a disk would. It widens the window in which a cut finds
	// written but unsynced data. Default 0.
	SyncLatency time.Duration
}

// FS is one mount of the model over a backing directory. Use it once:
// New, Mount, let a writer in another process work, kill the writer,
// Unmount, Cut. Mount a new FS over the same backing directory to go on.
type FS struct {
	backing string // absolute path of the backing directory
	stash   string // hard links keeping durable inodes alive (StrictDirs)
	opts    Options

	mu      sync.Mutex
	files   map[uint64]*fileState // by backing inode; never removed while mounted
	durable map[string]map[string]uint64
	cut     bool

	srv *fuse.Server
	mnt string

	frozen   atomic.Bool
	rejected atomic.Int64 // changes refused after Freeze

	armMu   sync.Mutex
	armOp   Op
	armLeft int           // requests of kind armOp left before the freeze; 0: not armed
	armed   chan struct{} // closed at the freeze of FreezeAfter

	fsyncs, datasyncs, dirSyncs int64
}

// New prepares a filesystem over backing, which must exist. With StrictDirs
// it keeps hard links to durable inodes in a sibling directory named
// backing + ".stash" (on the same filesystem, so links work), and takes the
// current contents of backing as durable.
func New(backing string, opts *Options) (*FS, error) {
	abs, err := filepath.Abs(backing)
	if err != nil {
		return nil, err
	}
	f := &FS{backing: abs, stash: abs + ".stash", files: map[uint64]*fileState{}}
	if opts != nil {
		f.opts = *opts
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("powercut: %s is not a directory", abs)
	}
	if f.opts.StrictDirs {
		f.durable = map[string]map[string]uint64{}
		if err := os.RemoveAll(f.stash); err != nil {
			return nil, err
		}
		if err := os.Mkdir(f.stash, 0o700); err != nil {
			return nil, err
		}
		err := filepath.WalkDir(abs, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(abs, p)
			return f.snapshotDir(rel)
		})
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Mount serves the filesystem at mnt (an empty directory) with a plain
// mount(2): it needs root and /dev/fuse. The kernel caches no attributes
// or names, so every stat shows the size the writer sees.
func (f *FS) Mount(mnt string) error {
	zero := time.Duration(0)
	root := &node{fsys: f}
	opts := &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true,
			FsName:            "powercut:" + f.backing,
			Name:              "powercut",
			DisableXAttrs:     true,
			MaxBackground:     64,
		},
	}
	srv, err := fs.Mount(mnt, root, opts)
	if err != nil {
		return fmt.Errorf("powercut: mount %s: %w", mnt, err)
	}
	f.srv, f.mnt = srv, mnt
	return nil
}

// Freeze is the moment the power fails: from now on nothing the writer does
// reaches the disk. Writes, truncates, fsyncs (including one that is still
// waiting out SyncLatency) and changes to names fail with EIO and change
// nothing. Reads still work. Call it just before killing the writer, so
// that requests the kernel still delivers after the kill cannot make
// anything durable either.
func (f *FS) Freeze() { f.frozen.Store(true) }

// Op is a kind of request FreezeAfter can count.
type Op int

const (
	OpWrite   Op = iota // a write to a file
	OpFsync             // a file fsync or fdatasync (counted once it made data durable)
	OpDirSync           // a directory fsync
	OpCreate            // a file created
	OpRename            // a rename
	numOps
)

// FreezeAfter arms a freeze that happens right after the n-th request of
// kind op from now (n >= 1): after a write, the power fails before the
// writer could sync it; after a rename, before the directory was synced.
// The channel is closed at that moment. Call Freeze to cut anyway if it
// does not come. Arming again replaces the earlier arming.
func (f *FS) FreezeAfter(op Op, n int) <-chan struct{} {
	f.armMu.Lock()
	defer f.armMu.Unlock()
	f.armOp, f.armLeft = op, max(n, 1)
	f.armed = make(chan struct{})
	return f.armed
}

// did counts one request of kind op against an armed freeze.
func (f *FS) did(op Op) {
	f.armMu.Lock()
	defer f.armMu.Unlock()
	if f.armLeft == 0 || op != f.armOp {
		return
	}
	f.armLeft--
	if f.armLeft == 0 {
		f.frozen.Store(true)
		close(f.armed)
	}
}

// refuse reports whether the power is off, counting the refusal.
func (f *FS) refuse() bool {
	if f.frozen.Load() {
		f.rejected.Add(1)
		return true
	}
	return false
}

// ErrForcedUnmount says Unmount had to detach the mount.
var ErrForcedUnmount = errors.New("powercut: forced unmount")

// Unmount takes the mount down. If a plain unmount does not succeed within
// timeout (a writer still holds files, or a request hangs), it aborts the
// connection and detaches the mount, and returns ErrForcedUnmount.
func (f *FS) Unmount(timeout time.Duration) error {
	if f.srv == nil {
		return nil
	}
	srv, mnt := f.srv, f.mnt
	f.srv = nil
	done := make(chan error, 1)
	go func() { done <- srv.Unmount() }()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
	case <-time.After(timeout):
	}
	err := syscall.Unmount(mnt, syscall.MNT_FORCE|syscall.MNT_DETACH)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrForcedUnmount, mnt, err)
	}
	waited := make(chan struct{})
	go func() { srv.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(timeout):
	}
	return fmt.Errorf("%w: %s", ErrForcedUnmount, mnt)
}

// CutOptions says what a power cut keeps of the writes not yet synced.
type CutOptions struct {
	// Rand, when set, keeps a random subset of the unsynced writes (a torn
	// write: the disk persisted some sectors of what it was given, maybe
	// the new size too). When nil every unsynced write is lost.
	Rand *rand.Rand
	// Sector is the unit of a torn write: 512 or 4096 (the default).
	Sector int
}

// CutReport says what a cut found and did.
type CutReport struct {
	Files        int   // backing inodes opened through the mount
	PendingBytes int64 // written but not synced (whole pages)
	KeptBytes    int64 // of those, written to the backing files by a torn cut
	Fsyncs       int64 // file fsyncs and fdatasyncs served during the mount
	Datasyncs    int64 // of those, fdatasyncs (bbolt's commit uses fdatasync on Linux)
	DirSyncs     int64 // directory fsyncs served during the mount
	Refused      int64 // requests that failed with EIO after Freeze
	Removed      []string
	Restored     []string
}

func (r CutReport) String() string {
	return fmt.Sprintf("%d files, %d B unsynced, %d B kept, %d fsyncs (%d fdatasync), %d dir fsyncs, names removed %v restored %v",
		r.Files, r.PendingBytes, r.KeptBytes, r.Fsyncs, r.Datasyncs, r.DirSyncs, r.Removed, r.Restored) +
		fmt.Sprintf(", %d refused after the freeze", r.Refused)
}

// Cut simulates the power cut once the mount is down: unsynced writes are
// lost (or some kept, see CutOptions) and, with StrictDirs, every directory
// gets back its names as of its last fsync. Afterwards the backing
// directory holds only what was durable; the FS cannot be used again.
func (f *FS) Cut(opts *CutOptions) (CutReport, error) {
	var o CutOptions
	if opts != nil {
		o = *opts
	}
	if o.Sector != 512 {
		o.Sector = pageSize
	}
	var rep CutReport
	if f.srv != nil {
		return rep, errors.New("powercut: Cut while mounted")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut {
		return rep, errors.New("powercut: Cut twice")
	}
	f.cut = true
	rep.Fsyncs, rep.Datasyncs, rep.DirSyncs, rep.Refused = f.fsyncs, f.datasyncs, f.dirSyncs, f.rejected.Load()
	var firstErr error
	for _, s := range f.files {
		p, k, err := s.cut(o.Rand, o.Sector)
		rep.Files++
		rep.PendingBytes += p
		rep.KeptBytes += k
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return rep, firstErr
	}
	if f.opts.StrictDirs {
		if err := f.restoreNames(&rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// state returns the state of backing inode ino, or nil.
func (f *FS) state(ino uint64) *fileState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.files[ino]
}

// openState returns the state of the inode at path, opening it if needed.
// fd, when not -1, is a read-write descriptor on that inode the caller
// already has; openState takes it over.
func (f *FS) openState(path string, fd int) (*fileState, error) {
	if fd < 0 {
		var err error
		fd, err = syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cut {
		syscall.Close(fd)
		return nil, syscall.EIO
	}
	if s, ok := f.files[st.Ino]; ok {
		syscall.Close(fd)
		return s, nil
	}
	s := newFileState(fd, st.Ino, st.Size)
	f.files[st.Ino] = s
	return s, nil
}

// countSync counts a file fsync (datasync: an fdatasync).
func (f *FS) countSync(datasync bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fsyncs++
	if datasync {
		f.datasyncs++
	}
}
