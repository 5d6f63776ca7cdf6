package powercut

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"syscall"
)

// pageSize is the granularity at which unsynced writes are kept.
const pageSize = 4096

// fileState is what the filesystem knows about one backing inode while it is
// mounted: the bytes written since the last fsync, kept in memory page by
// page, and the size the writer sees. The backing file holds only what was
// synced.
//
// Invariants: floor <= size; floor <= backingSize; every byte at or past
// size reads as zero; a backing byte at or past floor is not visible (it was
// cut off by a truncate that is not synced yet).
type fileState struct {
	mu          sync.Mutex
	fd          int              // read-write descriptor on the backing inode
	ino         uint64           // backing inode number
	dirty       map[int64][]byte // page index -> pageSize bytes, as the writer sees them
	size        int64            // size the writer sees
	floor       int64            // backing bytes at or past floor read as zeros
	backingSize int64            // size of the backing file
	closed      bool

	writes, syncs int64 // counters, for reports
}

func newFileState(fd int, ino uint64, size int64) *fileState {
	return &fileState{fd: fd, ino: ino, dirty: map[int64][]byte{}, size: size, floor: size, backingSize: size}
}

// readBase fills p with the content at off that does not come from a dirty
// page: backing bytes below floor, zeros elsewhere.
func (s *fileState) readBase(p []byte, off int64) error {
	clear(p)
	n := int64(len(p))
	if off >= s.floor {
		return nil
	}
	if off+n > s.floor {
		n = s.floor - off
	}
	for done := int64(0); done < n; {
		k, err := syscall.Pread(s.fd, p[done:n], off+done)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if k == 0 {
			break // the backing file is shorter: the rest reads as zeros
		}
		done += int64(k)
	}
	return nil
}

// page returns the dirty page idx, creating it from the base content.
func (s *fileState) page(idx int64) ([]byte, error) {
	if pg, ok := s.dirty[idx]; ok {
		return pg, nil
	}
	pg := make([]byte, pageSize)
	if err := s.readBase(pg, idx*pageSize); err != nil {
		return nil, err
	}
	s.dirty[idx] = pg
	return pg, nil
}

// readAt reads what the writer sees: dirty pages over the synced content.
func (s *fileState) readAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, syscall.EIO
	}
	if off >= s.size {
		return 0, nil
	}
	n := int64(len(p))
	if off+n > s.size {
		n = s.size - off
	}
	for done := int64(0); done < n; {
		pos := off + done
		idx, in := pos/pageSize, pos%pageSize
		k := min(n-done, pageSize-in)
		if pg, ok := s.dirty[idx]; ok {
			copy(p[done:done+k], pg[in:in+k])
		} else if err := s.readBase(p[done:done+k], pos); err != nil {
			return int(done), err
		}
		done += k
	}
	return int(n), nil
}

// writeAt keeps the write in memory; nothing reaches the backing file.
func (s *fileState) writeAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, syscall.EIO
	}
	n := int64(len(p))
	for done := int64(0); done < n; {
		pos := off + done
		idx, in := pos/pageSize, pos%pageSize
		k := min(n-done, pageSize-in)
		pg, err := s.page(idx)
		if err != nil {
			return int(done), err
		}
		copy(pg[in:in+k], p[done:done+k])
		done += k
	}
	s.size = max(s.size, off+n)
	s.writes++
	return int(n), nil
}

// truncate changes the size the writer sees; the backing file keeps its
// size until the next sync.
func (s *fileState) truncate(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return syscall.EIO
	}
	if size < s.size {
		for idx := range s.dirty {
			if idx*pageSize >= size {
				delete(s.dirty, idx)
			}
		}
		if in := size % pageSize; in != 0 {
			// The bytes past the new end of the last page must read as
			// zeros if the file grows again.
			pg, err := s.page(size / pageSize)
			if err != nil {
				return err
			}
			clear(pg[in:])
		}
		s.floor = min(s.floor, size)
	}
	s.size = size
	return nil
}

// sync applies everything the writer wrote to the backing file: what an
// fsync or fdatasync makes durable. The backing file is not fsynced itself:
// the host does not lose power, only the model does.
func (s *fileState) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return syscall.EIO
	}
	if _, err := s.apply(nil, 0); err != nil {
		return err
	}
	s.syncs++
	return nil
}

// apply writes dirty content to the backing file. With rng nil it writes all
// of it and the new size, and the state becomes clean. With rng set it keeps
// a random subset, as a disk that persisted some sectors of what it was
// given and maybe the new size: each sector-sized piece of each dirty page
// independently, the size change with probability one half. It returns the
// number of dirty bytes written. Caller holds s.mu.
func (s *fileState) apply(rng *rand.Rand, sector int) (int64, error) {
	all := rng == nil
	final := s.backingSize
	if all || rng.IntN(2) == 0 {
		if s.floor < s.backingSize {
			if err := ftruncate(s.fd, s.floor); err != nil {
				return 0, err
			}
		}
		final = s.size
	}
	if all {
		sector = pageSize
	}
	idxs := make([]int64, 0, len(s.dirty))
	for idx := range s.dirty {
		idxs = append(idxs, idx)
	}
	sort.Slice(idxs, func(i, j int) bool { return idxs[i] < idxs[j] })
	var kept int64
	for _, idx := range idxs {
		pg := s.dirty[idx]
		for in := 0; in < pageSize; in += sector {
			pos := idx*pageSize + int64(in)
			if pos >= final {
				break
			}
			if !all && rng.IntN(2) == 0 {
				continue
			}
			end := min(int64(in+sector), final-idx*pageSize)
			if err := pwriteAll(s.fd, pg[in:end], pos); err != nil {
				return kept, err
			}
			kept += end - int64(in)
		}
	}
	if err := ftruncate(s.fd, final); err != nil {
		return kept, err
	}
	if all {
		clear(s.dirty)
		s.backingSize, s.floor = s.size, s.size
	}
	return kept, nil
}

// cut ends the state at a power cut: with rng nil every unsynced write is
// lost; otherwise a random subset reaches the backing file (see apply). It
// returns the unsynced bytes it found and those it kept.
func (s *fileState) cut(rng *rand.Rand, sector int) (pending, kept int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, nil
	}
	pending = int64(len(s.dirty)) * pageSize
	if rng != nil && (len(s.dirty) > 0 || s.size != s.backingSize || s.floor != s.backingSize) {
		kept, err = s.apply(rng, sector)
	}
	s.closed = true
	s.dirty = nil
	if cerr := syscall.Close(s.fd); err == nil && cerr != nil {
		err = fmt.Errorf("close backing inode %d: %w", s.ino, cerr)
	}
	return pending, kept, err
}

func ftruncate(fd int, size int64) error {
	for {
		err := syscall.Ftruncate(fd, size)
		if err != syscall.EINTR {
			return err
		}
	}
}

func pwriteAll(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := syscall.Pwrite(fd, p, off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}
