package powercut

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// utimeOmit leaves a timestamp unchanged in utimensat(2).
const utimeOmit = (1 << 30) - 2

// node is a file or directory of the mount. Names and metadata go straight
// to the backing directory; file contents go through a fileState, so the
// backing file sees only synced data. Nodes never hand out passthrough
// descriptors: the kernel sends every read and write here.
type node struct {
	fs.Inode
	fsys *FS
}

var (
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeStatfser  = (*node)(nil)
)

// rel is the node's path relative to the backing root.
func (n *node) rel() string { return n.Path(nil) }

func (n *node) path() string { return filepath.Join(n.fsys.backing, n.rel()) }

func errno(err error) syscall.Errno { return fs.ToErrno(err) }

// fill sets out from st, with the size the writer sees.
func (n *node) fill(st *syscall.Stat_t, out *fuse.Attr) {
	out.FromStat(st)
	if st.Mode&syscall.S_IFMT == syscall.S_IFREG {
		if s := n.fsys.state(st.Ino); s != nil {
			s.mu.Lock()
			out.Size = uint64(s.size)
			s.mu.Unlock()
			out.Blocks = (out.Size + 511) / 512
		}
	}
}

// fileState returns the state of the node's inode if it was opened.
func (n *node) fileState() *fileState {
	if n.IsDir() || n.IsRoot() {
		return nil
	}
	return n.fsys.state(n.StableAttr().Ino)
}

func (n *node) newChild(ctx context.Context, st *syscall.Stat_t) *fs.Inode {
	return n.NewInode(ctx, &node{fsys: n.fsys}, fs.StableAttr{Mode: st.Mode & syscall.S_IFMT, Ino: st.Ino})
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(n.path(), name), &st); err != nil {
		return nil, errno(err)
	}
	n.fill(&st, &out.Attr)
	return n.newChild(ctx, &st), 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var st syscall.Stat_t
	var err error
	if h, ok := f.(*handle); ok {
		err = syscall.Fstat(h.s.fd, &st)
	} else if s := n.fileState(); s != nil {
		err = syscall.Fstat(s.fd, &st)
	} else {
		err = syscall.Lstat(n.path(), &st)
	}
	if err != nil {
		return errno(err)
	}
	n.fill(&st, &out.Attr)
	return 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.fsys.refuse() {
		return syscall.EIO
	}
	p := n.path()
	if size, ok := in.GetSize(); ok {
		var s *fileState
		if h, ok := f.(*handle); ok {
			s = h.s
		} else {
			var err error
			if s, err = n.fsys.openState(p, -1); err != nil {
				return errno(err)
			}
		}
		if err := s.truncate(int64(size)); err != nil {
			return errno(err)
		}
	}
	if mode, ok := in.GetMode(); ok {
		if err := syscall.Chmod(p, mode&07777); err != nil {
			return errno(err)
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		if err := syscall.Lchown(p, u, g); err != nil {
			return errno(err)
		}
	}
	atime, aok := in.GetATime()
	mtime, mok := in.GetMTime()
	if aok || mok {
		ts := []syscall.Timespec{{Nsec: utimeOmit}, {Nsec: utimeOmit}}
		if aok {
			ts[0] = syscall.NsecToTimespec(atime.UnixNano())
		}
		if mok {
			ts[1] = syscall.NsecToTimespec(mtime.UnixNano())
		}
		if err := syscall.UtimesNano(p, ts); err != nil {
			return errno(err)
		}
	}
	return n.Getattr(ctx, f, out)
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 && n.fsys.refuse() {
		return nil, 0, syscall.EIO
	}
	s, err := n.fsys.openState(n.path(), -1)
	if err != nil {
		return nil, 0, errno(err)
	}
	if flags&syscall.O_TRUNC != 0 {
		if err := s.truncate(0); err != nil {
			return nil, 0, errno(err)
		}
	}
	return &handle{s: s, fsys: n.fsys}, 0, 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if n.fsys.refuse() {
		return nil, nil, 0, syscall.EIO
	}
	p := filepath.Join(n.path(), name)
	fd, err := syscall.Open(p, syscall.O_CREAT|syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|int(flags&syscall.O_EXCL), mode&07777)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	s, err := n.fsys.openState(p, fd)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	if flags&syscall.O_TRUNC != 0 {
		if err := s.truncate(0); err != nil {
			return nil, nil, 0, errno(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(s.fd, &st); err != nil {
		return nil, nil, 0, errno(err)
	}
	n.fill(&st, &out.Attr)
	n.fsys.did(OpCreate)
	return n.newChild(ctx, &st), &handle{s: s, fsys: n.fsys}, 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.fsys.refuse() {
		return nil, syscall.EIO
	}
	p := filepath.Join(n.path(), name)
	if err := syscall.Mkdir(p, mode&07777); err != nil {
		return nil, errno(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return nil, errno(err)
	}
	n.fill(&st, &out.Attr)
	return n.newChild(ctx, &st), 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if n.fsys.refuse() {
		return syscall.EIO
	}
	return errno(syscall.Rmdir(filepath.Join(n.path(), name)))
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if n.fsys.refuse() {
		return syscall.EIO
	}
	return errno(syscall.Unlink(filepath.Join(n.path(), name)))
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if n.fsys.refuse() {
		return syscall.EIO
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if flags != 0 {
		return syscall.EINVAL // RENAME_NOREPLACE, RENAME_EXCHANGE: not needed here
	}
	if err := syscall.Rename(filepath.Join(n.path(), name), filepath.Join(np.path(), newName)); err != nil {
		return errno(err)
	}
	n.fsys.did(OpRename)
	return 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ents, err := os.ReadDir(n.path())
	if err != nil {
		return nil, errno(err)
	}
	list := make([]fuse.DirEntry, 0, len(ents))
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		list = append(list, fuse.DirEntry{Name: e.Name(), Mode: st.Mode & syscall.S_IFMT, Ino: st.Ino})
	}
	return fs.NewListDirStream(list), 0
}

// Fsync serves fsync and fdatasync on files (the unsynced writes reach the
// backing file) and on directories (StrictDirs: its names become durable).
// Both flavours make everything durable, data and size.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if n.fsys.refuse() {
		return syscall.EIO
	}
	if n.IsDir() {
		if err := n.fsys.syncDir(n.rel()); err != nil {
			return errno(err)
		}
		n.fsys.did(OpDirSync)
		return 0
	}
	n.fsys.countSync(flags&1 != 0) // FUSE_FSYNC_FDATASYNC
	s := n.fileState()
	if h, ok := f.(*handle); ok {
		s = h.s
	}
	if s == nil {
		return 0 // never opened through the mount: nothing unsynced
	}
	if d := n.fsys.opts.SyncLatency; d > 0 {
		time.Sleep(d)
		if n.fsys.refuse() {
			return syscall.EIO // the power failed while the disk was busy
		}
	}
	if err := s.sync(); err != nil {
		return errno(err)
	}
	n.fsys.did(OpFsync)
	return 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.fsys.backing, &st); err != nil {
		return errno(err)
	}
	out.FromStatfsT(&st)
	return 0
}

// handle is an open file: all it does goes to the inode's fileState.
type handle struct {
	s    *fileState
	fsys *FS
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileWriter   = (*handle)(nil)
	_ fs.FileWritever = (*handle)(nil)
	_ fs.FileFlusher  = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.s.readAt(dest, off)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if h.fsys.refuse() {
		return 0, syscall.EIO
	}
	n, err := h.s.writeAt(data, off)
	h.fsys.did(OpWrite)
	return uint32(n), errno(err)
}

func (h *handle) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	if h.fsys.refuse() {
		return 0, syscall.EIO
	}
	var total uint32
	for _, d := range data {
		n, err := h.s.writeAt(d, off)
		total += uint32(n)
		if err != nil {
			return total, errno(err)
		}
		off += int64(n)
	}
	h.fsys.did(OpWrite)
	return total, 0
}

// Flush (close) makes nothing durable.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

// Release keeps the state: unsynced data outlives the descriptor, as in a
// page cache.
func (h *handle) Release(ctx context.Context) syscall.Errno { return 0 }
